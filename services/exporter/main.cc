// civicpulse-exporter: merges the aggregators' partial aggregates and serves the
// participation indicators on /metrics (see README.md).
#include "CLI/CLI.hpp"
#include "app.h"
#include "civicpulse/runtime/common_flags.h"
#include "config.h"

int main(int argc, char** argv) {
  CLI::App cli{"Participation indicators from civicpulse's partial aggregates",
               "civicpulse-exporter"};
  civicpulse::exporter::ExporterConfig config;
  config.AddFlags(&cli);
  if (int code = civicpulse::runtime::ParseOrExit(&cli, argc, argv); code >= 0) return code;
  if (absl::Status s = config.Finish(); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-exporter", s);
    return 2;  // a bad flag
  }
  if (absl::Status s = civicpulse::exporter::RunExporter(config); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-exporter", s);  // -X settings are flags too
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
