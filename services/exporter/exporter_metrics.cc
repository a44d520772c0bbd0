#include "exporter_metrics.h"

namespace civicpulse::exporter {

ExporterMetrics::ExporterMetrics(prometheus::Registry& registry)
    : records(prometheus::BuildCounter()
                  .Name("civicpulse_exporter_records_total")
                  .Help("Partial-aggregate records read from the aggregates topic")
                  .Register(registry)
                  .Add({})),
      invalid_records(prometheus::BuildCounter()
                          .Name("civicpulse_exporter_invalid_records_total")
                          .Help("Records of the aggregates topic that could not be decoded "
                                "(ignored)")
                          .Register(registry)
                          .Add({})),
      fenced_records(prometheus::BuildCounter()
                         .Name("civicpulse_exporter_fenced_records_total")
                         .Help("Aggregate records ignored because their writer had been "
                               "fenced by a newer owner of the source partition (a zombie)")
                         .Register(registry)
                         .Add({})),
      incomplete_records(prometheus::BuildCounter()
                             .Name("civicpulse_exporter_incomplete_records_total")
                             .Help("Aggregate records ignored because their batch never "
                                   "completed or had no base (writer died mid-batch, log "
                                   "start cut by retention)")
                             .Register(registry)
                             .Add({})),
      rejected_records(prometheus::BuildCounter()
                           .Name("civicpulse_exporter_rejected_records_total")
                           .Help("Partial aggregates of complete batches that the indicator "
                                 "store ignored as malformed (unknown width or kind, "
                                 "unaligned cell, bad sketch, inconsistent history)")
                           .Register(registry)
                           .Add({})),
      fetch_wakeups(prometheus::BuildCounter()
                        .Name("civicpulse_exporter_fetch_wakeups_total")
                        .Help("Times librdkafka's fetchers were woken because the merge loop "
                              "had drained the consumer's queue to half (librdkafka before "
                              "2.1 would wait up to a second)")
                        .Register(registry)
                        .Add({})),
      last_merge_timestamp_seconds(
          prometheus::BuildGauge()
              .Name("civicpulse_exporter_last_merge_timestamp_seconds")
              .Help("Unix time of the last recomputation of the indicators")
              .Register(registry)
              .Add({})),
      merge_duration_seconds(prometheus::BuildGauge()
                                 .Name("civicpulse_exporter_merge_duration_seconds")
                                 .Help("How long the last recomputation of the indicators took")
                                 .Register(registry)
                                 .Add({})) {}

}  // namespace civicpulse::exporter
