#include "broker_stats.h"

#include <rapidjson/document.h>

namespace civicpulse::kafka::internal {

absl::StatusOr<BrokerStates> ParseBrokerStates(std::string_view statistics_json) {
  rapidjson::Document doc;
  doc.Parse(statistics_json.data(), statistics_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("librdkafka statistics: not a JSON object");
  }
  BrokerStates states;
  const auto brokers = doc.FindMember("brokers");
  if (brokers == doc.MemberEnd() || !brokers->value.IsObject()) return states;
  for (const auto& [name, broker] : brokers->value.GetObject()) {
    if (!broker.IsObject()) continue;
    const auto nodeid = broker.FindMember("nodeid");
    const auto state = broker.FindMember("state");
    // Bootstrap entries (nodeid -1) and logical ones (the group coordinator, nodeid -1 or a
    // second name for a real broker) would count one connection twice or not at all.
    if (nodeid == broker.MemberEnd() || !nodeid->value.IsInt() || nodeid->value.GetInt() < 0 ||
        state == broker.MemberEnd() || !state->value.IsString()) {
      continue;
    }
    if (const auto source = broker.FindMember("source");
        source != broker.MemberEnd() && source->value.IsString() &&
        std::string_view(source->value.GetString()) == "logical") {
      continue;
    }
    ++states.brokers;
    const std::string_view value(state->value.GetString(), state->value.GetStringLength());
    if (value == "UP") {
      ++states.up;
    } else {
      // (Debian's abseil has its own string_view: StrAppend takes no std::string_view.)
      if (!states.down.empty()) states.down += ", ";
      states.down.append(name.GetString(), name.GetStringLength()).append("=").append(value);
    }
  }
  return states;
}

}  // namespace civicpulse::kafka::internal
