// CommonFlags: the flags every civicpulse binary takes (docs/reference.md, "Binaries"):
// --brokers (or env CIVICPULSE_BROKERS), --listen host:port, -X key=value (librdkafka
// settings passed through, as kcat does) and --help.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::runtime {

struct CommonFlags {
  kafka::ClientConfig kafka;
  std::string listen;  // host:port of /metrics and /healthz
  std::vector<std::string> raw_properties;  // "-X key=value" as given
};

// Registers the common flags on `app`; `default_listen` is the service's default.
void AddCommonFlags(CLI::App* app, CommonFlags* flags, const std::string& default_listen);

// Call after parsing: applies CIVICPULSE_BROKERS when --brokers was not given, splits the
// -X settings, and checks that brokers and listen are usable.
absl::Status FinishCommonFlags(CommonFlags* flags, bool brokers_required = true);

// Parses argv with the service's flags already registered on `app`. Prints help or a one-
// line error as CLI11 does and returns the process exit code to use when it should stop
// (help: 0, bad flag: 2), or -1 when the service should run.
int ParseOrExit(CLI::App* app, int argc, char** argv);

// Prints "civicpulse-<name>: <message>" on stderr; returns the exit code 1 for convenience.
int Fail(const std::string& program, const absl::Status& status);

// Splits "host:port" (host may be empty or "0.0.0.0"; port 0 means any free port).
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace civicpulse::runtime
