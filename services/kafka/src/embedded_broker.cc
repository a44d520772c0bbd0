#include "civicpulse/kafka/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace civicpulse::kafka {
namespace {

class MockClusterBroker final : public EmbeddedBroker {
 public:
  MockClusterBroker(rd_kafka_t* handle, rd_kafka_mock_cluster_t* cluster, int nodes)
      : handle_(handle), cluster_(cluster), nodes_(nodes) {}

  ~MockClusterBroker() override {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }

  std::string bootstrap_servers() const override {
    return rd_kafka_mock_cluster_bootstraps(cluster_);
  }

  int nodes() const override { return nodes_; }

  absl::Status Inject(const BrokerFault& fault) override {
    if (fault.broker != -1 && (fault.broker < 1 || fault.broker > nodes_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("no broker ", fault.broker, " (the cluster has 1..", nodes_, ")"));
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    switch (fault.action) {
      case BrokerFault::Action::kBrokerDown:
        err = rd_kafka_mock_broker_set_down(cluster_, fault.broker);
        break;
      case BrokerFault::Action::kBrokerUp:
        err = rd_kafka_mock_broker_set_up(cluster_, fault.broker);
        break;
      case BrokerFault::Action::kRequestErrors: {
        std::vector<rd_kafka_resp_err_t> errors;
        for (int code : fault.errors) errors.push_back(static_cast<rd_kafka_resp_err_t>(code));
        rd_kafka_mock_push_request_errors_array(cluster_, fault.api_key, errors.size(),
                                                errors.data());
        break;
      }
      case BrokerFault::Action::kClearRequestErrors:
        rd_kafka_mock_clear_request_errors(cluster_, fault.api_key);
        break;
      case BrokerFault::Action::kLeader:
        err = rd_kafka_mock_partition_set_leader(cluster_, fault.topic.c_str(),
                                                 fault.partition, fault.broker);
        break;
      case BrokerFault::Action::kCoordinator:
        err = rd_kafka_mock_coordinator_set(cluster_, fault.coordinator_type.c_str(),
                                            fault.key.c_str(), fault.broker);
        break;
      case BrokerFault::Action::kRtt:
        err = rd_kafka_mock_broker_set_rtt(cluster_, fault.broker, fault.rtt_ms);
        break;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InvalidArgumentError(
          absl::StrCat(fault.ToString(), ": ", rd_kafka_err2str(err)));
    }
    return absl::OkStatus();
  }

  void SetAvailable(bool available) override {
    for (int id = 1; id <= nodes_; ++id) {
      if (available) {
        rd_kafka_mock_broker_set_up(cluster_, id);
      } else {
        rd_kafka_mock_broker_set_down(cluster_, id);
      }
    }
  }

 private:
  rd_kafka_t* handle_;
  rd_kafka_mock_cluster_t* cluster_;
  int nodes_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const EmbeddedBrokerOptions& options) {
  if (options.nodes < 1) return absl::InvalidArgumentError("--nodes must be >= 1");
  if (options.partitions < 1) {
    return absl::InvalidArgumentError("--partitions must be >= 1");
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The mock cluster lives on a handle of its own; it never produces anything.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("cannot create mock cluster handle: ", errstr));
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, options.nodes);
  if (cluster == nullptr) {
    rd_kafka_destroy(handle);
    return absl::InternalError("cannot create the mock cluster");
  }
  auto broker = std::make_unique<MockClusterBroker>(handle, cluster, options.nodes);
  const int replication = options.nodes >= 3 ? 3 : options.nodes;
  for (const std::string& topic : options.topics) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster, topic.c_str(), options.partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(
          absl::StrCat("cannot create topic ", topic, ": ", rd_kafka_err2str(err)));
    }
  }
  return broker;
}

}  // namespace civicpulse::kafka
