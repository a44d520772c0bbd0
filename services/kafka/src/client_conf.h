// Internal: builds an rd_kafka_conf_t from a ClientConfig plus service defaults.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::kafka::internal {

// librdkafka's log lines. Until a client of this process has reached the cluster, they are
// held back (only the last is kept) so that an unreachable or misconfigured cluster ends in
// one clear line that quotes librdkafka's last word; afterwards they go to stderr.
struct StartupLog {
  std::atomic<bool> connected{false};
  std::mutex mu;
  std::string last;  // guarded by mu

  static StartupLog& Get() {
    static StartupLog* log = new StartupLog;
    return *log;
  }
};

inline void LogLine(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  StartupLog& log = StartupLog::Get();
  if (!log.connected.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(log.mu);
    log.last = buf;
    return;
  }
  std::fprintf(stderr, "kafka %d|%s|%s: %s\n", level, fac, rk ? rd_kafka_name(rk) : "-", buf);
}

// Applies `defaults`, then bootstrap.servers, then the user's -X properties (which win).
// On error destroys `conf` and returns InvalidArgument naming the property.
inline absl::Status ApplyConfig(
    rd_kafka_conf_t* conf, const ClientConfig& config,
    const std::vector<std::pair<std::string, std::string>>& defaults) {
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> absl::Status {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka setting ", key, "=", value, ": ", errstr));
    }
    return absl::OkStatus();
  };
  for (const auto& [key, value] : defaults) {
    if (absl::Status s = set(key, value); !s.ok()) return s;
  }
  if (!config.brokers.empty()) {
    if (absl::Status s = set("bootstrap.servers", config.brokers); !s.ok()) return s;
  }
  for (const auto& [key, value] : config.properties) {
    if (absl::Status s = set(key, value); !s.ok()) return s;
  }
  rd_kafka_conf_set_log_cb(conf, &LogLine);
  return absl::OkStatus();
}

// Waits until the cluster answers a metadata request, or fails with Unavailable.
inline absl::Status AwaitCluster(rd_kafka_t* handle, int timeout_ms, const ClientConfig& config) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 0, nullptr, &metadata, timeout_ms);
  StartupLog& log = StartupLog::Get();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string last;
    {
      std::lock_guard<std::mutex> lock(log.mu);
      last = log.last;
    }
    return absl::UnavailableError(absl::StrCat("cannot reach Kafka at ", config.brokers,
                                               ": ", rd_kafka_err2str(err),
                                               last.empty() ? "" : " (", last,
                                               last.empty() ? "" : ")"));
  }
  rd_kafka_metadata_destroy(metadata);
  log.connected.store(true, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace civicpulse::kafka::internal
