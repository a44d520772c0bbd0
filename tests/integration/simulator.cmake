# civicpulse-simulator as a real process: reproducible NDJSON on stdout, valid events, exit
# codes, signals, /metrics, and records on the embedded broker (JSON and protobuf).
# Included from tests/CMakeLists.txt.
civicpulse_test(NAME simulator_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/simulator_test.cc
  DEPS civicpulse::event civicpulse::kafka PkgConfig::HTTPLIB absl::strings
  LABELS integration
  TIMEOUT 180)
target_compile_definitions(simulator_test PRIVATE
  CIVICPULSE_SIMULATOR_BIN="$<TARGET_FILE:civicpulse-simulator>")
add_dependencies(simulator_test civicpulse-simulator)
