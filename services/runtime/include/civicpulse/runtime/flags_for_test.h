// ParseFlagsForTest: parses command-line flags into a service's config the way its main()
// does (AddFlags, CLI11 parse, Finish), returning parse errors as a Status. For config unit
// tests only: CLI11 reports errors by exception, which main() turns into one line.
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace civicpulse::runtime {

// `args` are the flags after the program name.
template <typename Config>
absl::Status ParseFlagsForTest(const std::string& program, std::vector<std::string> args,
                               Config* config) {
  CLI::App app{"test", program};
  config->AddFlags(&app);
  args.insert(args.begin(), program);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return config->Finish();
}

}  // namespace civicpulse::runtime
