// civicpulse-aggregator: consumer-group member that turns events into partial window
// aggregates for the exporter (see README.md).
#include "CLI/CLI.hpp"
#include "app.h"
#include "civicpulse/runtime/common_flags.h"
#include "config.h"

int main(int argc, char** argv) {
  CLI::App cli{"Windowed partial aggregation of civicpulse events", "civicpulse-aggregator"};
  civicpulse::aggregator::AggregatorConfig config;
  config.AddFlags(&cli);
  if (int code = civicpulse::runtime::ParseOrExit(&cli, argc, argv); code >= 0) return code;
  if (absl::Status s = config.Finish(); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-aggregator", s);
    return 2;  // a bad flag
  }
  if (absl::Status s = civicpulse::aggregator::RunAggregator(config); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-aggregator", s);  // -X settings are flags too
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
