#include "civicpulse/kafka/broker_fault.h"

#include <librdkafka/rdkafka.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace civicpulse::kafka {
namespace {

// Kafka protocol API keys (https://kafka.apache.org/protocol#protocol_api_keys).
constexpr std::pair<const char*, int16_t> kApis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

constexpr std::pair<const char*, BrokerFault::Action> kActions[] = {
    {"broker_down", BrokerFault::Action::kBrokerDown},
    {"broker_up", BrokerFault::Action::kBrokerUp},
    {"request_errors", BrokerFault::Action::kRequestErrors},
    {"clear_request_errors", BrokerFault::Action::kClearRequestErrors},
    {"leader", BrokerFault::Action::kLeader},
    {"coordinator", BrokerFault::Action::kCoordinator},
    {"rtt", BrokerFault::Action::kRtt},
};

const char* ActionName(BrokerFault::Action action) {
  for (const auto& [name, value] : kActions) {
    if (value == action) return name;
  }
  return "?";
}

std::string ApiName(int16_t key) {
  for (const auto& [name, value] : kApis) {
    if (value == key) return name;
  }
  return absl::StrCat("api", key);
}

absl::StatusOr<std::string> Param(const std::multimap<std::string, std::string>& params,
                                  const std::string& name) {
  auto it = params.find(name);
  if (it == params.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing parameter '", name, "'"));
  }
  return it->second;
}

absl::StatusOr<int> IntParam(const std::multimap<std::string, std::string>& params,
                             const std::string& name, int min, int max) {
  absl::StatusOr<std::string> text = Param(params, name);
  if (!text.ok()) return text.status();
  int value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", name, "' must be an integer in ", min, "..", max));
  }
  return value;
}

}  // namespace

absl::StatusOr<int16_t> ParseApiKey(const std::string& name) {
  for (const auto& [api, key] : kApis) {
    if (name == api) return key;
  }
  int key = 0;
  if (absl::SimpleAtoi(name, &key) && key >= 0 && key < 100) return static_cast<int16_t>(key);
  return absl::InvalidArgumentError(absl::StrCat("unknown Kafka API '", name, "'"));
}

absl::StatusOr<int> ParseKafkaError(const std::string& name) {
  const struct rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name != nullptr && name == descs[i].name) return descs[i].code;
  }
  int code = 0;
  if (absl::SimpleAtoi(name, &code) && code > 0 && code < 1000) return code;
  return absl::InvalidArgumentError(absl::StrCat("unknown Kafka error '", name, "'"));
}

absl::StatusOr<BrokerFault> ParseBrokerFault(
    const std::multimap<std::string, std::string>& params) {
  absl::StatusOr<std::string> action = Param(params, "action");
  if (!action.ok()) return action.status();
  BrokerFault fault;
  bool known = false;
  for (const auto& [name, value] : kActions) {
    if (*action == name) {
      fault.action = value;
      known = true;
    }
  }
  if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown action '", *action, "'"));

  auto broker = [&]() -> absl::Status {
    absl::StatusOr<int> id = IntParam(params, "broker", 1, 1000);
    if (!id.ok()) return id.status();
    fault.broker = *id;
    return absl::OkStatus();
  };
  auto api = [&]() -> absl::Status {
    absl::StatusOr<std::string> name = Param(params, "api");
    if (!name.ok()) return name.status();
    absl::StatusOr<int16_t> key = ParseApiKey(*name);
    if (!key.ok()) return key.status();
    fault.api_key = *key;
    return absl::OkStatus();
  };
  absl::Status status;
  switch (fault.action) {
    case BrokerFault::Action::kBrokerDown:
    case BrokerFault::Action::kBrokerUp:
      status = broker();
      break;
    case BrokerFault::Action::kRequestErrors: {
      status = api();
      if (!status.ok()) break;
      absl::StatusOr<std::string> names = Param(params, "error");
      if (!names.ok()) return names.status();
      int count = 1;
      if (params.contains("count")) {
        absl::StatusOr<int> n = IntParam(params, "count", 1, 100000);
        if (!n.ok()) return n.status();
        count = *n;
      }
      std::vector<int> codes;
      for (absl::string_view name : absl::StrSplit(*names, ',', absl::SkipEmpty())) {
        absl::StatusOr<int> code = ParseKafkaError(std::string(name));
        if (!code.ok()) return code.status();
        codes.push_back(*code);
      }
      if (codes.empty()) return absl::InvalidArgumentError("missing parameter 'error'");
      // count=n repeats the list n times: n consecutive requests (per error) fail.
      for (int i = 0; i < count; ++i) {
        fault.errors.insert(fault.errors.end(), codes.begin(), codes.end());
      }
      break;
    }
    case BrokerFault::Action::kClearRequestErrors:
      status = api();
      break;
    case BrokerFault::Action::kLeader: {
      absl::StatusOr<std::string> topic = Param(params, "topic");
      if (!topic.ok()) return topic.status();
      fault.topic = *topic;
      absl::StatusOr<int> partition = IntParam(params, "partition", 0, 100000);
      if (!partition.ok()) return partition.status();
      fault.partition = *partition;
      status = broker();
      break;
    }
    case BrokerFault::Action::kCoordinator: {
      absl::StatusOr<std::string> type = Param(params, "type");
      if (!type.ok()) return type.status();
      if (*type != "group" && *type != "transaction") {
        return absl::InvalidArgumentError("parameter 'type' must be group or transaction");
      }
      fault.coordinator_type = *type;
      absl::StatusOr<std::string> key = Param(params, "key");
      if (!key.ok()) return key.status();
      fault.key = *key;
      status = broker();
      break;
    }
    case BrokerFault::Action::kRtt: {
      status = broker();
      if (!status.ok()) break;
      absl::StatusOr<int> ms = IntParam(params, "ms", 0, 600000);
      if (!ms.ok()) return ms.status();
      fault.rtt_ms = *ms;
      break;
    }
  }
  if (!status.ok()) return status;
  return fault;
}

std::string BrokerFault::ToString() const {
  std::string out = ActionName(action);
  if (api_key >= 0) absl::StrAppend(&out, " ", ApiName(api_key));
  if (!errors.empty()) {
    absl::StrAppend(&out, " x", errors.size(), " ",
                    absl::StrJoin(errors, ",", [](std::string* o, int code) {
                      o->append(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)));
                    }));
  }
  if (!topic.empty()) absl::StrAppend(&out, " ", topic, "/", partition);
  if (!coordinator_type.empty()) absl::StrAppend(&out, " ", coordinator_type, " ", key);
  if (broker >= 0) absl::StrAppend(&out, " broker ", broker);
  if (action == Action::kRtt) absl::StrAppend(&out, " ", rtt_ms, " ms");
  return out;
}

}  // namespace civicpulse::kafka
