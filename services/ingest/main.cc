// civicpulse-ingest: HTTP gateway that turns app events, Open311 requests and
// CSV imports into canonical events on Kafka (see README.md).
#include "CLI/CLI.hpp"
#include "app.h"
#include "civicpulse/runtime/common_flags.h"
#include "config.h"

int main(int argc, char** argv) {
  CLI::App cli{
      "HTTP gateway: JSON/NDJSON events, Open311 requests and CSV imports to "
      "Kafka",
      "civicpulse-ingest"};
  civicpulse::ingest::IngestConfig config;
  config.AddFlags(&cli);
  if (int code = civicpulse::runtime::ParseOrExit(&cli, argc, argv); code >= 0)
    return code;
  if (absl::Status s = config.Finish(); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-ingest", s);
    return 2;  // a bad flag
  }
  if (absl::Status s = civicpulse::ingest::RunIngest(config); !s.ok()) {
    civicpulse::runtime::Fail("civicpulse-ingest", s);
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
