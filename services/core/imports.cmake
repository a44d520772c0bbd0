# --- imports: pure decoders of the ingest gateway's foreign formats ------------------------
# Open311 GeoReport v2 service requests and RFC 4180 CSV exports become Events; no I/O.
# Included from services/core/CMakeLists.txt (before the fuzz targets, which instrument it).
civicpulse_library(NAME imports
  SOURCES src/open311.cc src/csv_import.cc
  PUBLIC_DEPS civicpulse::event absl::status absl::statusor absl::time
  PRIVATE_DEPS absl::strings)

civicpulse_test(NAME open311_test
  SOURCES src/open311_test.cc
  DEPS civicpulse::imports absl::strings)
civicpulse_test(NAME csv_import_test
  SOURCES src/csv_import_test.cc
  DEPS civicpulse::imports absl::strings)
