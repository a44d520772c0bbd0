#include "app.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/runtime/http_server.h"
#include "civicpulse/runtime/shutdown.h"
#include "civicpulse/simulator/traffic_model.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace civicpulse::simulator {
namespace {

constexpr char kProgram[] = "civicpulse-simulator";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Where generated events go. Emit() may block while the destination applies backpressure.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual absl::Status Emit(const core::Event& event) = 0;
  // Makes what was emitted visible (idle moments of the real-time phase).
  virtual absl::Status Drain() = 0;
  // Final flush before exit: everything emitted is delivered or an error is returned.
  virtual absl::Status Close() = 0;
};

// NDJSON on stdout, one EncodeJson event per line, written through a large buffer.
class StdoutSink final : public EventSink {
 public:
  StdoutSink() { std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20); }

  absl::Status Emit(const core::Event& event) override {
    codec_.EncodeJson(event, &line_);
    line_.push_back('\n');
    if (std::fwrite(line_.data(), 1, line_.size(), stdout) != line_.size()) return WriteError();
    return absl::OkStatus();
  }
  absl::Status Drain() override {
    return std::fflush(stdout) == 0 ? absl::OkStatus() : WriteError();
  }
  absl::Status Close() override { return Drain(); }

  // A reader that went away (`| head`) ends the run quietly.
  static bool ReaderGone(const absl::Status& status) {
    return absl::IsCancelled(status);
  }

 private:
  static absl::Status WriteError() {
    if (errno == EPIPE) return absl::CancelledError("stdout closed");
    return absl::UnavailableError(absl::StrCat("cannot write to stdout: ", std::strerror(errno)));
  }

  core::EventCodec codec_;
  std::string line_;
};

// Kafka records keyed by area: JSON with `content-type: application/json`, or protobuf.
class KafkaSink final : public EventSink {
 public:
  KafkaSink(std::unique_ptr<kafka::Producer> producer, std::string topic, Format format)
      : producer_(std::move(producer)), topic_(std::move(topic)), format_(format) {
    record_.topic = topic_;
    record_.headers = {{"content-type", format_ == Format::kJson ? "application/json"
                                                                 : "application/x-protobuf"}};
  }

  absl::Status Emit(const core::Event& event) override {
    if (format_ == Format::kJson) {
      codec_.EncodeJson(event, &value_);
    } else {
      codec_.EncodeProtobuf(event, &value_);
    }
    record_.key = event.area;
    record_.value = value_;
    return producer_->Produce(record_);
  }
  absl::Status Drain() override { return absl::OkStatus(); }  // librdkafka lingers briefly
  absl::Status Close() override { return producer_->Flush(absl::Seconds(30)); }

 private:
  std::unique_ptr<kafka::Producer> producer_;
  std::string topic_;
  Format format_;
  core::EventCodec codec_;
  std::string value_;
  kafka::ProducerRecord record_;
};

struct SimulatorMetrics {
  explicit SimulatorMetrics(prometheus::Registry& registry) {
    auto& events = prometheus::BuildCounter()
                       .Name("civicpulse_simulator_events_total")
                       .Help("Events generated and handed to the sink, by kind")
                       .Register(registry);
    for (int k = 1; k <= core::kKindCount; ++k) {
      const auto kind = static_cast<core::Kind>(k);
      by_kind[k - 1] = &events.Add({{"kind", std::string(core::KindName(kind))}});
    }
    history_complete = &prometheus::BuildGauge()
                            .Name("civicpulse_simulator_history_complete")
                            .Help("1 once the configured history has been generated")
                            .Register(registry)
                            .Add({});
  }
  std::array<prometheus::Counter*, core::kKindCount> by_kind{};
  prometheus::Gauge* history_complete = nullptr;
};

absl::StatusOr<std::unique_ptr<EventSink>> OpenSink(const SimulatorConfig& config) {
  if (config.output_kind == Output::kStdout) return std::make_unique<StdoutSink>();
  // librdkafka logs every failed connection attempt; start-up failures come back as one
  // clear status line instead. `-X log_level=7` (applied later) brings the logs back.
  kafka::ClientConfig client = config.common.kafka;
  client.properties.insert(client.properties.begin(), {"log_level", "2"});
  absl::StatusOr<std::unique_ptr<kafka::Producer>> producer = kafka::Producer::Create(client);
  if (!producer.ok()) return producer.status();
  return std::make_unique<KafkaSink>(*std::move(producer), config.topic, config.format_kind);
}

}  // namespace

absl::Status RunSimulator(const SimulatorConfig& config) {
  runtime::InstallShutdownHandlers();
  auto registry = std::make_shared<prometheus::Registry>();
  SimulatorMetrics metrics(*registry);

  runtime::HttpServer server;
  server.ServeMetrics(registry);
  server.ServeHealth([] { return runtime::Health{}; });
  if (absl::Status s = server.Start(config.common.listen); !s.ok()) {
    // On stdout the events are the product and metrics a convenience: run on without them.
    if (config.output_kind == Output::kKafka) return s;
    std::cerr << kProgram << ": no /metrics (" << s.message() << ")" << std::endl;
  }

  absl::StatusOr<std::unique_ptr<EventSink>> sink = OpenSink(config);
  if (!sink.ok()) return sink.status();
  absl::StatusOr<std::unique_ptr<TrafficModel>> model = TrafficModel::Create(config.traffic);
  if (!model.ok()) return model.status();

  const int64_t history_end_ms = config.traffic.history_end_ms;
  std::cerr << kProgram << ": " << config.traffic.areas.size() << " areas, "
            << config.traffic.participants << " participants, seed " << config.traffic.seed
            << ", history from " << core::FormatRfc3339(config.traffic.start_ms) << " to "
            << core::FormatRfc3339(history_end_ms);
  if (config.end_ms == 0 || config.end_ms > history_end_ms) {
    std::cerr << ", then " << config.rate << " events/s in real time";
  }
  std::cerr << ", to " << (config.output_kind == Output::kStdout ? "stdout" : config.topic)
            << std::endl;

  const absl::Time started = absl::Now();
  bool history_done = false;
  int64_t emitted = 0;
  absl::Status status;
  core::Event event;
  bool finished = false;
  while (!finished && !runtime::ShutdownRequested()) {
    const int64_t now_ms = NowMs();
    const int64_t horizon = config.end_ms != 0 ? std::min(now_ms, config.end_ms) : now_ms;
    while (model.value()->NextBefore(horizon, &event)) {
      status = (*sink)->Emit(event);
      if (!status.ok()) break;
      metrics.by_kind[static_cast<int>(event.kind) - 1]->Increment();
      ++emitted;
      if (config.count > 0 && emitted >= config.count) {
        finished = true;
        break;
      }
      if ((emitted & 1023) == 0) {
        if (runtime::ShutdownRequested()) break;
        // --history-pace: hold the history back to that many events per second.
        if (!history_done && config.history_pace > 0) {
          const absl::Duration ahead =
              absl::Seconds(static_cast<double>(emitted) / config.history_pace) -
              (absl::Now() - started);
          if (ahead > absl::ZeroDuration()) runtime::WaitForShutdown(ahead);
        }
      }
    }
    if (!status.ok() || finished || runtime::ShutdownRequested()) break;
    if (!history_done && horizon >= history_end_ms) {
      history_done = true;
      metrics.history_complete->Set(1);
      const double seconds = absl::ToDoubleSeconds(absl::Now() - started);
      std::cerr << kProgram << ": history complete: " << emitted << " events in " << seconds
                << " s (" << static_cast<int64_t>(emitted / std::max(seconds, 1e-3))
                << " events/s)" << std::endl;
    }
    if (config.end_ms != 0 && model.value()->next_candidate_ms() > config.end_ms) break;
    // Real time: make the latest events visible, then sleep until the next could occur.
    status = (*sink)->Drain();
    if (!status.ok()) break;
    const int64_t wait_ms =
        std::clamp<int64_t>(model.value()->next_candidate_ms() - NowMs(), 1, 250);
    runtime::WaitForShutdown(absl::Milliseconds(wait_ms));
  }

  if (StdoutSink::ReaderGone(status)) status = absl::OkStatus();
  absl::Status closed = (*sink)->Close();
  if (StdoutSink::ReaderGone(closed)) closed = absl::OkStatus();
  if (status.ok()) status = closed;
  std::cerr << kProgram << ": " << emitted << " events generated"
            << (runtime::ShutdownRequested() ? " (stopped by signal)" : "") << std::endl;
  server.Stop();
  return status;
}

}  // namespace civicpulse::simulator
