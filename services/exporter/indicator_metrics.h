// IndicatorMetrics: the names, help texts, types and labels of the indicator metrics the
// exporter serves (docs/reference.md, "Indicator metrics"; /work/shared/design.md), declared
// once here, and the conversion of the IndicatorStore's typed indicators into prometheus-cpp
// metric families. The core computes figures; only this file names them.
//
// Stateless: every function is thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "civicpulse/core/indicator_store.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace civicpulse::exporter {

struct MetricSpec {
  std::string_view name;
  std::string_view help;
  prometheus::MetricType type;
};

// Every family built from core::Indicators, in exposition order.
struct IndicatorMetrics {
  using T = prometheus::MetricType;
  // area, kind
  static constexpr MetricSpec kEvents = {"civicpulse_events_total",
                                         "Events applied, by area and kind.", T::Counter};
  // area, kind, window
  static constexpr MetricSpec kActiveParticipants = {
      "civicpulse_active_participants",
      "Distinct participants in the trailing window; kind=\"all\" and area=\"all\" are unions.",
      T::Gauge};
  // area, window
  static constexpr MetricSpec kNewParticipants = {
      "civicpulse_new_participants",
      "Participants first seen in the area within 90 days, in the trailing window.", T::Gauge};
  static constexpr MetricSpec kVolunteerTime = {
      "civicpulse_volunteer_time_seconds", "Volunteer time given in the trailing window.",
      T::Gauge};
  static constexpr MetricSpec kRecycledGrams = {
      "civicpulse_recycled_grams", "Grams recycled in the trailing window.", T::Gauge};
  static constexpr MetricSpec kCollectiveRatio = {
      "civicpulse_collective_participation_ratio",
      "Events with mode=collective / all events in the trailing window.", T::Gauge};
  static constexpr MetricSpec kCoproductionRatio = {
      "civicpulse_coproduction_ratio",
      "Events with a public body involved / all events in the trailing window.", T::Gauge};
  static constexpr MetricSpec kConcentrationRatio = {
      "civicpulse_participant_concentration_ratio",
      "Events of the most active tenth of participants / all events in the trailing window.",
      T::Gauge};
  // area, type
  static constexpr MetricSpec kCoproductionEvents = {
      "civicpulse_coproduction_events_total",
      "Events applied, by area and type of co-production.", T::Counter};
  // age_band, window
  static constexpr MetricSpec kActiveParticipantsByAge = {
      "civicpulse_active_participants_by_age",
      "Distinct participants city-wide by age band, in the trailing window (events that carry "
      "an age band).",
      T::Gauge};
  // area
  static constexpr MetricSpec kAreaResidents = {"civicpulse_area_residents",
                                                "Residents per area (areas file).", T::Gauge};
  // area, kind
  static constexpr MetricSpec kLastEventTimestamp = {
      "civicpulse_last_event_timestamp_seconds",
      "Largest event time applied, by area and kind.", T::Gauge};
  // area, kind, window: present once the baseline is ready (docs/baseline.md)
  static constexpr MetricSpec kExpectedEvents = {
      "civicpulse_expected_events",
      "Seasonal expectation of events in the trailing window: median of the same window in "
      "previous weeks (docs/baseline.md); absent until ready.",
      T::Gauge};
  static constexpr MetricSpec kExpectedActiveParticipants = {
      "civicpulse_expected_active_participants",
      "Seasonal expectation of distinct participants in the trailing window (single area and "
      "kind only); absent until ready.",
      T::Gauge};
  static constexpr MetricSpec kParticipationRatio = {
      "civicpulse_participation_ratio",
      "Observed events / expected events in the trailing window (1 when both are 0); absent "
      "until the baseline is ready.",
      T::Gauge};
  // area, kind
  static constexpr MetricSpec kBaselineReady = {
      "civicpulse_baseline_ready",
      "1 once enough previous weeks (default 3, holidays aside) exist for the 1h window's "
      "expectation.",
      T::Gauge};
  // no labels
  static constexpr MetricSpec kPartitions = {
      "civicpulse_exporter_partitions",
      "Source partitions the exporter has partial aggregates of.", T::Gauge};
  static constexpr MetricSpec kWatermark = {
      "civicpulse_exporter_watermark_timestamp_seconds",
      "Smallest watermark over the source partitions (0 before any).", T::Gauge};
};

// The families of IndicatorMetrics at `indicators`, in that order; series in the order of
// core::Indicators.
std::vector<prometheus::MetricFamily> ToMetricFamilies(const core::Indicators& indicators);

}  // namespace civicpulse::exporter
