# civicpulse-ingest as a real process: HTTP on a kernel-chosen port, records on the embedded
# broker over TCP: pseudonymised participants (never a raw id on the topics, the DLQ, the
# log or /metrics), the San Francisco Open311 sample accepted in full, CSV line/column
# errors, tokens and limits, 503 + Retry-After while Kafka is down, start-up refusals.
# Included from tests/CMakeLists.txt.
civicpulse_test(NAME ingest_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ingest_test.cc
  DEPS civicpulse::event civicpulse::kafka PkgConfig::HTTPLIB OpenSSL::Crypto absl::strings
       absl::time
  LABELS integration
  TIMEOUT 300)
target_compile_definitions(ingest_test PRIVATE
  CIVICPULSE_INGEST_BIN="$<TARGET_FILE:civicpulse-ingest>"
  CIVICPULSE_SF_SAMPLE="${CMAKE_CURRENT_LIST_DIR}/testdata/sf-311-requests-2011.json"
  CIVICPULSE_OPEN311_SF_CONFIG="${PROJECT_SOURCE_DIR}/services/ingest/open311-sf.json")
add_dependencies(ingest_test civicpulse-ingest)

# Every attack of issue 10 (docs/threat-model.md) against the real ingest over real sockets:
# idle and slow connections, unauthenticated and oversized bodies, oversized fields and
# records, hostile areas, raw ids hidden in malformed input; no raw id on any topic.
add_test(NAME ingest_hostile
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/ingest_hostile_test.py
          --bin-dir ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(ingest_hostile PROPERTIES LABELS integration TIMEOUT 300)
