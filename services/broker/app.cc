#include "app.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "civicpulse/kafka/broker_fault.h"
#include "civicpulse/kafka/embedded_broker.h"
#include "civicpulse/runtime/http_server.h"
#include "civicpulse/runtime/shutdown.h"

namespace civicpulse::broker {

void BrokerConfig::AddFlags(CLI::App* app) {
  app->add_option("--nodes", nodes, "Number of brokers in the cluster")->capture_default_str();
  app->add_option("--partitions", partitions, "Partitions of each topic")
      ->capture_default_str();
  app->add_option("--bootstrap-file", bootstrap_file,
                  "Write the bootstrap list (host:port,...) to this file");
  app->add_option("--control-listen", control_listen,
                  "Serve the fault-injection API (POST /v1/faults) on host:port; off if empty");
  app->add_option("--topic", topics, "Topics to create (repeatable)")->capture_default_str();
}

absl::Status BrokerConfig::Validate() const {
  if (nodes < 1 || nodes > 16) return absl::InvalidArgumentError("--nodes must be 1..16");
  if (partitions < 1 || partitions > 10000) {
    return absl::InvalidArgumentError("--partitions must be 1..10000");
  }
  return absl::OkStatus();
}

absl::Status RunBroker(const BrokerConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  runtime::InstallShutdownHandlers();
  auto broker = kafka::EmbeddedBroker::Start(
      {.nodes = config.nodes, .partitions = config.partitions, .topics = config.topics});
  if (!broker.ok()) return broker.status();
  const std::string bootstrap = (*broker)->bootstrap_servers();
  if (!config.bootstrap_file.empty()) {
    // Write then rename, so a reader polling for the file never sees half a line.
    const std::string tmp = config.bootstrap_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << bootstrap << "\n";
      if (!out) {
        return absl::UnavailableError(absl::StrCat("cannot write ", config.bootstrap_file));
      }
    }
    if (std::rename(tmp.c_str(), config.bootstrap_file.c_str()) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot write ", config.bootstrap_file));
    }
  }
  // The control API: chaos tests and demos break the cluster on purpose through it.
  runtime::HttpServer control;
  if (!config.control_listen.empty()) {
    kafka::EmbeddedBroker* cluster = broker->get();
    control.Post("/v1/faults", [cluster](const runtime::HttpRequest& request,
                                         runtime::HttpResponse* response) {
      absl::StatusOr<kafka::BrokerFault> fault = kafka::ParseBrokerFault(request.params);
      absl::Status status = fault.ok() ? cluster->Inject(*fault) : fault.status();
      if (!status.ok()) {
        response->status = 400;
        response->body = absl::StrCat(status.message(), "\n");
        return;
      }
      std::cerr << "civicpulse-broker: fault injected: " << fault->ToString() << std::endl;
      response->body = absl::StrCat(fault->ToString(), "\n");
    });
    control.ServeHealth([] { return runtime::Health{}; });
    if (absl::Status s = control.Start(config.control_listen); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("--control-listen ", config.control_listen, ": ", s.message()));
    }
    std::cerr << "civicpulse-broker: fault-injection API on port " << control.port()
              << std::endl;
  }
  std::cout << bootstrap << std::endl;
  std::cerr << "civicpulse-broker: " << config.nodes << " node(s), " << config.partitions
            << " partitions per topic, listening on " << bootstrap << std::endl;
  while (!runtime::WaitForShutdown(absl::Seconds(1))) {
  }
  std::cerr << "civicpulse-broker: shutting down" << std::endl;
  control.Stop();
  return absl::OkStatus();
}

}  // namespace civicpulse::broker
