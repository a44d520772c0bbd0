// civicpulse-simulator: synthetic co-production traffic to Kafka or stdout (NDJSON).
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "app.h"
#include "civicpulse/runtime/common_flags.h"
#include "config.h"

int main(int argc, char** argv) {
  CLI::App app{"Synthetic co-production traffic (areas, rhythms, usual suspects, drops)",
               "civicpulse-simulator"};
  civicpulse::simulator::SimulatorConfig config;
  config.AddFlags(&app);
  if (int code = civicpulse::runtime::ParseOrExit(&app, argc, argv); code >= 0) return code;
  if (absl::Status s = config.Finish(absl::ToUnixMillis(absl::Now())); !s.ok()) {
    std::cerr << "civicpulse-simulator: " << s.message() << " (see --help)" << std::endl;
    return 2;
  }
  if (absl::Status s = civicpulse::simulator::RunSimulator(config); !s.ok()) {
    return civicpulse::runtime::Fail("civicpulse-simulator", s);
  }
  return 0;
}
