#include "aggregator_metrics.h"

#include <algorithm>

namespace civicpulse::aggregator {
namespace {

prometheus::Histogram& CycleStep(prometheus::Registry& registry, const char* step) {
  // The same family for every step: the builder returns the registered one again.
  return prometheus::BuildHistogram()
      .Name("civicpulse_aggregator_cycle_step_duration_seconds")
      .Help("Time a step of a checkpoint cycle held the consume loop: publish (aggregates "
            "and dead letters, produced and acknowledged), checkpoint (the changelog, "
            "likewise), commit (the consumer group's offsets)")
      .Register(registry)
      .Add({{"step", step}}, prometheus::Histogram::BucketBoundaries{
                                 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10});
}

}  // namespace

void OutcomeTotals::Apply(const core::OutcomeCounts& counts, int64_t sign) {
  counts_[0].fetch_add(sign * static_cast<int64_t>(counts.applied));
  counts_[1].fetch_add(sign * static_cast<int64_t>(counts.duplicate));
  counts_[2].fetch_add(sign * static_cast<int64_t>(counts.late));
  counts_[3].fetch_add(sign * static_cast<int64_t>(counts.invalid));
  counts_[4].fetch_add(sign * static_cast<int64_t>(counts.dedup_evicted));
}

std::vector<prometheus::MetricFamily> OutcomeTotals::Collect() const {
  static constexpr const char* kOutcomes[] = {"applied", "duplicate", "late", "invalid"};
  prometheus::MetricFamily family;
  family.name = "civicpulse_aggregator_events_total";
  family.help =
      "Records of the owned partitions by outcome (applied, duplicate, late, invalid) over "
      "their whole history; follows the partitions, so the sum over instances counts every "
      "record once";
  family.type = prometheus::MetricType::Counter;
  for (int i = 0; i < 4; ++i) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"outcome", kOutcomes[i]});
    metric.counter.value = static_cast<double>(std::max<int64_t>(0, counts_[i].load()));
    family.metric.push_back(std::move(metric));
  }
  prometheus::MetricFamily evicted;
  evicted.name = "civicpulse_aggregator_dedup_evicted_ids_total";
  evicted.help =
      "Event ids the owned partitions' duplicate memory forgot before their 7-day horizon "
      "because it was full (a duplicate of one would be applied again); follows the "
      "partitions like civicpulse_aggregator_events_total";
  evicted.type = prometheus::MetricType::Counter;
  prometheus::ClientMetric metric;
  metric.counter.value = static_cast<double>(std::max<int64_t>(0, counts_[4].load()));
  evicted.metric.push_back(std::move(metric));
  return {std::move(family), std::move(evicted)};
}

AggregatorMetrics::AggregatorMetrics(prometheus::Registry& registry)
    : watermark_delay_seconds(
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
      skipped_offsets(prometheus::BuildCounter()
                          .Name("civicpulse_aggregator_skipped_offsets_total")
                          .Help("Offsets of owned partitions never seen between two consumed "
                                "records: records the broker deleted (retention) before they "
                                "were consumed, or transaction markers; lost input if > 0 on "
                                "a topic without transactions")
                          .Register(registry)
                          .Add({})),
      publish_failures(prometheus::BuildCounter()
                           .Name("civicpulse_aggregator_publish_failures_total")
                           .Help("Publish cycles whose records Kafka did not acknowledge "
                                 "(offsets were not committed)")
                           .Register(registry)
                           .Add({})),
      dlq_truncated(prometheus::BuildCounter()
                        .Name("civicpulse_aggregator_dlq_truncated_records_total")
                        .Help("Dead letters whose value was cut to fit the record size limit "
                              "(headers original-size and original-sha256 describe the whole)")
                        .Register(registry)
                        .Add({})),
      dlq_pending(prometheus::BuildGauge()
                      .Name("civicpulse_aggregator_dlq_pending_records")
                      .Help("Dead letters not acknowledged by Kafka yet; while any is pending "
                            "no checkpoint covers its record")
                      .Register(registry)
                      .Add({})),
      checkpoint_bytes(prometheus::BuildCounter()
                           .Name("civicpulse_aggregator_checkpoint_bytes_total")
                           .Help("Bytes of acknowledged batches written, by log (aggregates, "
                                 "changelog) and kind (snapshot, delta)")
                           .Register(registry)),
      largest_snapshot_bytes(prometheus::BuildGauge()
                                 .Name("civicpulse_aggregator_largest_snapshot_bytes")
                                 .Help("Size of the largest last changelog snapshot of an "
                                       "owned partition (keep it under a third of the "
                                       "changelog's retention per partition)")
                                 .Register(registry)
                                 .Add({})),
      state_bytes(prometheus::BuildGauge()
                      .Name("civicpulse_aggregator_state_bytes")
                      .Help("Approximate heap bytes of the owned partitions' event-time state "
                            "(cells, sketches, event-id and participant memories; not "
                            "librdkafka's queues), updated at most every 10 s")
                      .Register(registry)
                      .Add({})),
      fetch_wakeups(prometheus::BuildCounter()
                        .Name("civicpulse_aggregator_fetch_wakeups_total")
                        .Help("Times librdkafka's fetchers were woken because the consume loop "
                              "had drained the consumer's small queue to half (librdkafka "
                              "before 2.1 would wait up to a second)")
                        .Register(registry)
                        .Add({})),
      restore_duration_seconds(prometheus::BuildGauge()
                                   .Name("civicpulse_aggregator_restore_duration_seconds")
                                   .Help("Time the last restore of assigned partitions from "
                                         "the changelog took")
                                   .Register(registry)
                                   .Add({})),
      restored_partitions(prometheus::BuildCounter()
                              .Name("civicpulse_aggregator_restored_partitions_total")
                              .Help("Assigned partitions whose state was restored from a "
                                    "changelog checkpoint")
                              .Register(registry)
                              .Add({})),
      restore_fenced_records(prometheus::BuildCounter()
                                 .Name("civicpulse_aggregator_restore_fenced_records_total")
                                 .Help("Changelog records ignored while restoring because a "
                                       "newer owner had fenced their writer")
                                 .Register(registry)
                                 .Add({})),
      restore_failures(prometheus::BuildCounter()
                           .Name("civicpulse_aggregator_restore_failures_total")
                           .Help("Restores that could not read the changelog (retried)")
                           .Register(registry)
                           .Add({})),
      publish_step_seconds(CycleStep(registry, "publish")),
      checkpoint_step_seconds(CycleStep(registry, "checkpoint")),
      commit_step_seconds(CycleStep(registry, "commit")) {
  for (const char* log : {"aggregates", "changelog"}) {
    for (const char* kind : {"snapshot", "delta"})
      checkpoint_bytes.Add({{"log", log}, {"kind", kind}});
  }
}

prometheus::Counter& AggregatorMetrics::Checkpoint(const std::string& log, bool snapshot) {
  return checkpoint_bytes.Add({{"log", log}, {"kind", snapshot ? "snapshot" : "delta"}});
}

PartitionLagSeries::PartitionLagSeries(AggregatorMetrics* metrics, const std::string& topic,
                                       int32_t partition)
    : metrics_(metrics),
      records_(
          metrics->lag_records.Add({{"topic", topic}, {"partition", std::to_string(partition)}})),
      seconds_(
          metrics->lag_seconds.Add({{"topic", topic}, {"partition", std::to_string(partition)}})) {}

PartitionLagSeries::~PartitionLagSeries() {
  metrics_->lag_records.Remove(&records_);
  metrics_->lag_seconds.Remove(&seconds_);
}

}  // namespace civicpulse::aggregator
