#include "app.h"

#include <iostream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"

#include "civicpulse/core/status_macros.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/runtime/http_server.h"
#include "civicpulse/runtime/shutdown.h"
#include "event_sink.h"
#include "ingest_metrics.h"
#include "prometheus/registry.h"
#include "pseudonymizer.h"
#include "service.h"

namespace civicpulse::ingest {
namespace {

constexpr char kProgram[] = "civicpulse-ingest";

}  // namespace

absl::Status RunIngest(IngestConfig& config) {
  runtime::InstallShutdownHandlers();
  if (config.generated_key) {
    std::cerr << kProgram
              << ": --demo: pseudonymising participant ids with a random key; "
                 "pseudonyms will "
                 "not match those of another run"
              << std::endl;
  }
  if (config.listen_defaulted_to_loopback) {
    std::cerr << kProgram
              << ": no --tokens-file: the API is unauthenticated, listening on "
              << config.common.listen << " only" << std::endl;
  }
  const Pseudonymizer pseudonymizer(config.pseudonym_key);
  config.pseudonym_key.assign(config.pseudonym_key.size(), '\0');

  CIVICPULSE_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Producer> producer,
                              kafka::Producer::Create(config.common.kafka));
  KafkaEventSink sink(producer.get(), config.topic, config.dlq_topic);

  auto registry = std::make_shared<prometheus::Registry>();
  const std::vector<std::string> sources =
      config.tokens ? config.tokens->sources()
                    : std::vector<std::string>{config.default_source};
  IngestMetrics metrics(*registry, sources);
  absl::flat_hash_set<std::string> known_areas;
  if (config.areas) known_areas.insert(config.areas->areas.begin(), config.areas->areas.end());
  std::function<bool(std::string_view)> is_known_area;
  if (config.areas) {
    is_known_area = [&known_areas](std::string_view area) {
      return known_areas.contains(absl::string_view(area.data(), area.size()));
    };
  }
  IngestService service({.default_source = config.default_source,
                         .max_records = config.max_records,
                         .max_json_depth = config.max_json_depth,
                         .produce_timeout = config.produce_timeout_duration,
                         .retry_after_seconds = config.retry_after_seconds,
                         .open311 = config.open311 ? &*config.open311 : nullptr,
                         .csv_time_zone = config.csv_time_zone,
                         .is_known_area = is_known_area},
                        config.tokens ? &*config.tokens : nullptr,
                        &pseudonymizer, &sink, &metrics);

  runtime::HttpServer http({.max_body_bytes = config.max_body_bytes,
                            .worker_threads = config.http_threads,
                            .header_timeout_seconds = config.header_timeout_seconds,
                            .body_timeout_seconds = config.body_timeout_seconds,
                            .max_connections = config.max_connections});
  service.Register(&http);
  http.ServeMetrics(registry);
  http.ServeHealth([&service] { return service.health(); });
  CIVICPULSE_RETURN_IF_ERROR(http.Start(config.common.listen));
  std::cerr << kProgram << ": listening on port " << http.port() << " ("
            << (config.tokens ? "bearer tokens of " +
                                    std::to_string(sources.size()) + " sources"
                              : "source \"" + config.default_source + "\"")
            << "), producing to " << config.topic << " and " << config.dlq_topic
            << std::endl;

  while (!runtime::WaitForShutdown(absl::Seconds(1))) {
  }
  http.Stop();  // finishes the requests in flight
  if (absl::Status s = producer->Flush(absl::Seconds(10)); !s.ok()) {
    std::cerr << kProgram << ": on shutdown: " << s.message() << std::endl;
  }
  std::cerr << kProgram << ": stopped" << std::endl;
  return absl::OkStatus();
}

}  // namespace civicpulse::ingest
