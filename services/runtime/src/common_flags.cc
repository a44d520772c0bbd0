#include "civicpulse/runtime/common_flags.h"

#include "civicpulse/runtime/protobuf_log.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace civicpulse::runtime {

void AddCommonFlags(CLI::App* app, CommonFlags* flags, const std::string& default_listen) {
  flags->listen = default_listen;
  app->add_option("--brokers", flags->kafka.brokers,
                  "Kafka bootstrap servers host:port[,...] (env CIVICPULSE_BROKERS)");
  app->add_option("--listen", flags->listen, "host:port for /metrics and /healthz")
      ->capture_default_str();
  app->add_option("-X", flags->raw_properties,
                  "librdkafka setting key=value, passed through (repeatable), e.g. "
                  "-X security.protocol=SASL_SSL")
      ->take_all()
      ->allow_extra_args(false);
}

absl::Status FinishCommonFlags(CommonFlags* flags, bool brokers_required) {
  // Every binary passes here once at start-up: libprotobuf's per-message log lines are
  // throttled before any untrusted record is parsed (protobuf_log.h).
  ThrottleProtobufLog();
  if (flags->kafka.brokers.empty()) {
    if (const char* env = std::getenv("CIVICPULSE_BROKERS"); env != nullptr) {
      flags->kafka.brokers = env;
    }
  }
  if (brokers_required && flags->kafka.brokers.empty()) {
    return absl::InvalidArgumentError(
        "no Kafka brokers: pass --brokers host:port or set CIVICPULSE_BROKERS");
  }
  flags->kafka.properties.clear();
  for (const std::string& raw : flags->raw_properties) {
    const size_t eq = raw.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("-X expects key=value, got \"", raw, "\""));
    }
    flags->kafka.properties.emplace_back(raw.substr(0, eq), raw.substr(eq + 1));
  }
  std::string host;
  int port = 0;
  return SplitHostPort(flags->listen, &host, &port);
}

int ParseOrExit(CLI::App* app, int argc, char** argv) {
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app->exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app->get_name() << ": " << e.what() << " (see --help)" << std::endl;
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  return -1;
}

int Fail(const std::string& program, const absl::Status& status) {
  std::cerr << program << ": " << status.message() << std::endl;
  return 1;
}

absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen expects host:port, got \"", listen, "\""));
  }
  *host = listen.substr(0, colon);
  if (host->empty()) *host = "0.0.0.0";
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (!absl::SimpleAtoi(listen.substr(colon + 1), port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: bad port in \"", listen, "\""));
  }
  return absl::OkStatus();
}

}  // namespace civicpulse::runtime
