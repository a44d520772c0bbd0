// civicpulse-broker: an embedded Kafka-protocol broker for running civicpulse on one machine.
#include "CLI/CLI.hpp"
#include "app.h"
#include "civicpulse/runtime/common_flags.h"

int main(int argc, char** argv) {
  CLI::App app{"Embedded Kafka-protocol broker (librdkafka mock cluster) with civicpulse's topics",
               "civicpulse-broker"};
  civicpulse::broker::BrokerConfig config;
  config.AddFlags(&app);
  if (int code = civicpulse::runtime::ParseOrExit(&app, argc, argv); code >= 0) return code;
  if (absl::Status s = civicpulse::broker::RunBroker(config); !s.ok()) {
    return civicpulse::runtime::Fail("civicpulse-broker", s);
  }
  return 0;
}
