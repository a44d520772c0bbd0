#include "config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::simulator {

void SimulatorConfig::AddFlags(CLI::App* app) {
  runtime::AddCommonFlags(app, &common, ":9402");
  app->add_option("--rate", rate, "Mean events per second (daily and weekly rhythms modulate it)")
      ->capture_default_str();
  app->add_option("--history-rate", history_rate,
                  "Mean events per second of the history (0: same as --rate)")
      ->capture_default_str();
  app->add_option("--history-pace", history_pace,
                  "Write the history at most this many events per wall-clock second (0: as "
                  "fast as the sink accepts), so that consumers keep up with a broker of "
                  "short retention")
      ->capture_default_str();
  app->add_option("--count", count, "Stop after this many events (0: unbounded)")
      ->capture_default_str();
  app->add_option("--history", history,
                  "First generate this span of past traffic as fast as the sink accepts "
                  "(e.g. 28d, 12h, 1h30m), then go on in real time")
      ->capture_default_str();
  app->add_option("--end", end,
                  "Stop at this RFC 3339 time; in the past, the run is a reproducible replay "
                  "of [END-history, END)");
  app->add_option("--seed", seed, "Seed of the traffic model: same seed, same traffic")
      ->capture_default_str();
  app->add_option("--areas", areas, "Number of areas W01..WNN (without --areas-file)")
      ->capture_default_str();
  app->add_option("--areas-file", areas_file,
                  "CSV area,residents: the areas, participants drawn by residents");
  app->add_option("--participants", participants, "Size of the participant population")
      ->capture_default_str();
  app->add_option("--drop", drops,
                  "Inject a drop AREA:KIND:START:DURATION:FACTOR, e.g. "
                  "W03:volunteer_shift:now+10m:30m:0.2 (AREA/KIND may be *; repeatable)");
  app->add_option("--output", output, "kafka or stdout (NDJSON)")->capture_default_str();
  app->add_option("--format", format, "Kafka record format: json or protobuf")
      ->capture_default_str();
  app->add_option("--topic", topic, "Kafka topic of the events")->capture_default_str();
}

absl::Status SimulatorConfig::Finish(int64_t now_ms) {
  if (output == "kafka") {
    output_kind = Output::kKafka;
  } else if (output == "stdout") {
    output_kind = Output::kStdout;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--output must be kafka or stdout, got \"", output, "\""));
  }
  if (format == "json") {
    format_kind = Format::kJson;
  } else if (format == "protobuf") {
    format_kind = Format::kProtobuf;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be json or protobuf, got \"", format, "\""));
  }
  if (output_kind == Output::kStdout && format_kind == Format::kProtobuf) {
    return absl::InvalidArgumentError("--format protobuf needs --output kafka (stdout is NDJSON)");
  }
  if (absl::Status s = runtime::FinishCommonFlags(&common, output_kind == Output::kKafka);
      !s.ok()) {
    return s;
  }
  if (topic.empty()) return absl::InvalidArgumentError("--topic must not be empty");
  if (!(rate > 0) || !std::isfinite(rate) || rate > 1e7) {
    return absl::InvalidArgumentError("--rate must be > 0 and <= 10000000 events/s");
  }
  if (!(history_rate >= 0) || !std::isfinite(history_rate) || history_rate > 1e7) {
    return absl::InvalidArgumentError("--history-rate must be >= 0 and <= 10000000 events/s");
  }
  if (!(history_pace >= 0) || !std::isfinite(history_pace)) {
    return absl::InvalidArgumentError("--history-pace must be >= 0 events/s");
  }
  if (count < 0) return absl::InvalidArgumentError("--count must be >= 0");
  if (participants < 1 || participants > 100000000) {
    return absl::InvalidArgumentError("--participants must be 1..100000000");
  }
  absl::StatusOr<int64_t> history_ms = ParseSpan(history);
  if (!history_ms.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--history: ", history_ms.status().message()));
  }

  int64_t history_end_ms = now_ms;
  end_ms = 0;
  if (!end.empty()) {
    if (!core::ParseRfc3339(end, &end_ms)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--end must be an RFC 3339 time with offset, got \"", end, "\""));
    }
    history_end_ms = std::min(end_ms, now_ms);
  }

  traffic = TrafficOptions{};
  traffic.seed = seed;
  traffic.rate_per_second = rate;
  traffic.history_rate_per_second = history_rate;
  traffic.history_end_ms = history_end_ms;
  traffic.start_ms = history_end_ms - *history_ms;
  traffic.participants = participants;
  if (!areas_file.empty()) {
    std::ifstream in(areas_file);
    if (!in) return absl::NotFoundError(absl::StrCat("--areas-file: cannot read ", areas_file));
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<AreaSpec>> parsed = ParseAreasCsv(text.str(), areas_file);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--areas-file: ", parsed.status().message()));
    }
    traffic.areas = *std::move(parsed);
  } else {
    if (areas < 1 || areas > 100000) {
      return absl::InvalidArgumentError("--areas must be 1..100000");
    }
    traffic.areas = DefaultAreas(areas, seed);
  }
  // Relative drop times count from the present moment (or the fixed end of a replay).
  for (const std::string& spec : drops) {
    absl::StatusOr<Drop> drop = ParseDrop(spec, history_end_ms);
    if (!drop.ok()) return drop.status();
    if (!drop->area.empty()) {
      bool known = false;
      for (const AreaSpec& a : traffic.areas) known = known || a.name == drop->area;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("--drop \"", spec, "\": unknown area ", drop->area));
      }
    }
    traffic.drops.push_back(*std::move(drop));
  }
  return absl::OkStatus();
}

}  // namespace civicpulse::simulator
