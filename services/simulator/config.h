// SimulatorConfig: the flags of civicpulse-simulator, their defaults and their validation.
// AddFlags() registers them on a CLI11 app; Finish() checks them and resolves what depends
// on the time of start-up (the history span, `now+10m` in drops) and on files (the areas
// file). Plain data, thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "civicpulse/runtime/common_flags.h"
#include "civicpulse/simulator/traffic_model.h"

namespace civicpulse::simulator {

enum class Output { kKafka, kStdout };
enum class Format { kJson, kProtobuf };

struct SimulatorConfig {
  // --- flags, with their defaults --------------------------------------------------------
  runtime::CommonFlags common;         // --brokers, --listen (:9402), -X
  double rate = 20;                    // --rate: mean events/s, modulated by rhythms
  double history_rate = 0;             // --history-rate: events/s of the history (0: --rate)
  double history_pace = 0;             // --history-pace: max events per wall-clock second
                                       // while writing history (0: as fast as accepted)
  int64_t count = 0;                   // --count: stop after N events (0: unbounded)
  std::string history = "0";           // --history: span of past traffic first (e.g. 28d)
  std::string end;                     // --end: RFC 3339; stop there (default: run on)
  uint64_t seed = 1;                   // --seed
  int areas = 20;                      // --areas: W01..WNN, unless --areas-file
  std::string areas_file;              // --areas-file: CSV area,residents
  int participants = 5000;             // --participants
  std::vector<std::string> drops;      // --drop AREA:KIND:START:DURATION:FACTOR (repeatable)
  std::string output = "kafka";        // --output kafka|stdout
  std::string format = "json";         // --format json|protobuf (Kafka only)
  std::string topic = "civicpulse.events.v1";  // --topic

  // --- resolved by Finish() ---------------------------------------------------------------
  Output output_kind = Output::kKafka;
  Format format_kind = Format::kJson;
  int64_t end_ms = 0;                  // 0: no end (run in real time until --count / signal)
  TrafficOptions traffic;              // everything the model needs, start_ms included

  void AddFlags(CLI::App* app);
  // Validates and resolves against the wall-clock time `now_ms`. InvalidArgument with a
  // one-line message names the flag at fault; NotFound when the areas file is missing.
  absl::Status Finish(int64_t now_ms);
};

}  // namespace civicpulse::simulator
