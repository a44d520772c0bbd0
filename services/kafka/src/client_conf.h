// Internal: builds an rd_kafka_conf_t from a ClientConfig plus service defaults.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::kafka::internal {

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
  return absl::OkStatus();
}

// Waits until the cluster answers a metadata request, or fails with Unavailable.
inline absl::Status AwaitCluster(rd_kafka_t* handle, int timeout_ms, const ClientConfig& config) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 0, nullptr, &metadata, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("cannot reach Kafka at ", config.brokers,
                                               ": ", rd_kafka_err2str(err)));
  }
  rd_kafka_metadata_destroy(metadata);
  return absl::OkStatus();
}

}  // namespace civicpulse::kafka::internal
