#include "aggregator_metrics.h"

namespace civicpulse::aggregator {

AggregatorMetrics::AggregatorMetrics(prometheus::Registry& registry)
    : events(prometheus::BuildCounter()
                 .Name("civicpulse_aggregator_events_total")
                 .Help("Events consumed by outcome: applied, duplicate, late or invalid")
                 .Register(registry)),
      applied(events.Add({{"outcome", "applied"}})),
      duplicate(events.Add({{"outcome", "duplicate"}})),
      late(events.Add({{"outcome", "late"}})),
      invalid(events.Add({{"outcome", "invalid"}})),
      watermark_delay_seconds(
          prometheus::BuildGauge()
              .Name("civicpulse_aggregator_watermark_delay_seconds")
              .Help("Wall-clock time minus the lowest event-time watermark of the owned "
                    "partitions that have one")
              .Register(registry)
              .Add({})),
      lag_records(prometheus::BuildGauge()
                      .Name("civicpulse_consumer_lag_records")
                      .Help("Records of an owned partition not consumed yet (high watermark "
                            "minus position)")
                      .Register(registry)),
      lag_seconds(prometheus::BuildGauge()
                      .Name("civicpulse_consumer_lag_seconds")
                      .Help("Approximate age of the oldest unconsumed record of an owned "
                            "partition; 0 when caught up")
                      .Register(registry)),
      assigned_partitions(prometheus::BuildGauge()
                              .Name("civicpulse_aggregator_assigned_partitions")
                              .Help("Partitions of the events topic owned by this instance")
                              .Register(registry)
                              .Add({})),
      dlq_records(prometheus::BuildCounter()
                      .Name("civicpulse_aggregator_dlq_records_total")
                      .Help("Rejected records produced to the dead-letter topic")
                      .Register(registry)
                      .Add({})),
      published_records(prometheus::BuildCounter()
                            .Name("civicpulse_aggregator_published_records_total")
                            .Help("Partial-aggregate records produced to the aggregates topic")
                            .Register(registry)
                            .Add({})),
      dropped_records(prometheus::BuildCounter()
                          .Name("civicpulse_aggregator_dropped_records_total")
                          .Help("Records of partitions not (or no longer) owned, skipped")
                          .Register(registry)
                          .Add({})),
      publish_failures(prometheus::BuildCounter()
                           .Name("civicpulse_aggregator_publish_failures_total")
                           .Help("Publish cycles whose records Kafka did not acknowledge "
                                 "(offsets were not committed)")
                           .Register(registry)
                           .Add({})) {}

prometheus::Counter& AggregatorMetrics::Outcome(core::Outcome outcome) {
  switch (outcome) {
    case core::Outcome::kApplied:
      return applied;
    case core::Outcome::kDuplicate:
      return duplicate;
    case core::Outcome::kLate:
      return late;
  }
  return applied;
}

PartitionLagSeries::PartitionLagSeries(AggregatorMetrics* metrics, const std::string& topic,
                                       int32_t partition)
    : metrics_(metrics),
      records_(metrics->lag_records.Add(
          {{"topic", topic}, {"partition", std::to_string(partition)}})),
      seconds_(metrics->lag_seconds.Add(
          {{"topic", topic}, {"partition", std::to_string(partition)}})) {}

PartitionLagSeries::~PartitionLagSeries() {
  metrics_->lag_records.Remove(&records_);
  metrics_->lag_seconds.Remove(&seconds_);
}

}  // namespace civicpulse::aggregator
