// TrafficModel: synthetic co-production traffic for civicpulse-simulator, a pure model.
//
// A city of areas (wards) with residents, and a population of participants, each with a home
// area, an optional age band, a preferred kind of activity and an activity level drawn from a
// Pareto distribution (a few very active "usual suspects", many occasional participants;
// activity rises with age). Events arrive as an inhomogeneous Poisson process whose rate is
// `rate_per_second` modulated by a per-kind rhythm over the hour of the week (night lows,
// evening peaks, weekend differences; mean 1 over a week) and by injected drops (an area and
// kind at a fraction of its normal rate for a while). Arrival times come from thinning a
// homogeneous process, so events come out in non-decreasing time order.
//
// Deterministic: the same options (seed, start time, ...) give the same events on every run
// and machine (own transforms over std::mt19937_64, no std:: distributions). Does no I/O and
// reads no clock: the caller passes the current time to NextBefore(), which never yields an
// event later than that time.
//
// Thread-compatible: one TrafficModel per thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "civicpulse/core/event.h"

namespace civicpulse::simulator {

struct AreaSpec {
  std::string name;
  double residents = 0;  // > 0; participants' home areas are drawn in proportion
};

// A temporary drop (or, with factor > 1, a surge) in one area and kind.
struct Drop {
  std::string area;                // "" = every area
  std::optional<core::Kind> kind;  // nullopt = every kind
  int64_t start_ms = 0;            // event time, ms since the epoch
  int64_t duration_ms = 0;
  double factor = 0;               // rate multiplier while active, >= 0

  bool Covers(std::string_view event_area, core::Kind event_kind, int64_t time_ms) const;
};

struct TrafficOptions {
  uint64_t seed = 1;
  // Event time of the first possible event (the history start), ms since the epoch.
  int64_t start_ms = 0;
  // Mean events per second over a week, before drops. > 0.
  double rate_per_second = 20;
  // Events before `history_end_ms` arrive at `history_rate_per_second` instead (0: the
  // same rate), so a long history can be thinner than the live stream.
  int64_t history_end_ms = 0;
  double history_rate_per_second = 0;
  std::vector<AreaSpec> areas;  // non-empty, unique names
  int participants = 5000;      // >= 1
  std::vector<Drop> drops;
  // Pareto shape of participants' activity: smaller is more concentrated (1.4: the most
  // active tenth gives about half the events).
  double activity_shape = 1.4;
};

// The default city: `count` areas W01..WNN (W001.. above 99) with seeded resident counts.
std::vector<AreaSpec> DefaultAreas(int count, uint64_t seed);

// Relative rate of `kind` at `time_ms` (UTC hour of the week); its mean over a week is 1.
double RhythmMultiplier(core::Kind kind, int64_t time_ms);

// Parses the areas file (CSV `area,residents`, as the aggregator and exporter read it):
// blank lines, '#' comments and an `area,residents` header are skipped; an area without a
// count gets the mean of the others (10,000 when none has one). `origin` prefixes errors.
absl::StatusOr<std::vector<AreaSpec>> ParseAreasCsv(std::string_view text,
                                                    std::string_view origin);

// "30m", "28d", "1h30m", "90s", "2w", "0"; units s, m, h, d, w. Returns milliseconds.
absl::StatusOr<int64_t> ParseSpan(std::string_view text);

// "AREA:KIND:START:DURATION:FACTOR", e.g. "W03:volunteer_shift:now+10m:30m:0.2". AREA and
// KIND may be "*" (all). START is "now", "now+SPAN", "now-SPAN" (relative to `now_ms`) or an
// RFC 3339 time. FACTOR >= 0 multiplies the rate (0.2: a drop to a fifth).
absl::StatusOr<Drop> ParseDrop(std::string_view spec, int64_t now_ms);

class TrafficModel {
 public:
  static absl::StatusOr<std::unique_ptr<TrafficModel>> Create(TrafficOptions options);

  // Fills *event with the next event if its time is <= now_ms and returns true; otherwise
  // returns false and keeps that event for a later call. Events come in non-decreasing
  // time order with ids "sim-<seed>-<start seconds>-<n>" (n from 1), unique and stable for
  // a seed and start. Every event passes EventCodec validation at any now >= its time.
  bool NextBefore(int64_t now_ms, core::Event* event);

  // Earliest time at which the next event could occur (an arrival candidate; thinning may
  // still drop it). Callers sleep until then.
  int64_t next_candidate_ms() const {
    return static_cast<int64_t>(std::ceil(next_candidate_ms_));
  }
  int64_t events_generated() const { return generated_; }

  const std::vector<AreaSpec>& areas() const { return options_.areas; }
  // A participant's activity weight (its expected share of events before rhythms).
  double activity_weight(int participant) const;

 private:
  struct Participant {
    uint32_t area;
    core::AgeBand age_band;
    core::Kind preferred;
    double weight;
  };

  explicit TrafficModel(TrafficOptions options);
  void BuildPopulation();
  uint64_t NextBits() { return engine_(); }
  double Uniform();  // [0, 1)
  int PickWeighted(const std::vector<double>& cumulative);
  int PickParticipant();  // by activity weight, O(1) (Walker's alias method)
  // Moves next_candidate_ms_ to the next arrival of the envelope process, whose rate is
  // constant within an hour (the hour's highest rhythm over kinds x the largest drop
  // factor x the phase's rate), so that thinning rejects few candidates.
  void AdvanceCandidate();
  double DropFactor(uint32_t area, core::Kind kind, int64_t time_ms) const;
  void FillDetails(core::Kind kind, core::Event* event);

  TrafficOptions options_;
  std::mt19937_64 engine_;
  std::vector<Participant> participants_;
  std::vector<double> alias_probability_;  // Walker's alias table over participants
  std::vector<uint32_t> alias_;
  std::vector<double> area_cumulative_;    // residents, cumulative
  double max_drop_factor_ = 1;             // >= 1: the envelope must cover surges
  bool in_history_ = false;                // arrivals at the history rate
  double next_candidate_ms_ = 0;
  int64_t generated_ = 0;
  std::string id_prefix_;
};

}  // namespace civicpulse::simulator
