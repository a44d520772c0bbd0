// Standard process_* metrics (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds), read from /proc/self at scrape time. prometheus-cpp 1.0 does
// not provide them, so this collectable does.
#pragma once

#include <memory>

namespace prometheus {
class Collectable;
}

namespace civicpulse::runtime {

// A collectable reading /proc/self on every Collect(). HttpServer::ServeMetrics serves it
// beside the service's registry.
std::shared_ptr<prometheus::Collectable> MakeProcessCollector();

}  // namespace civicpulse::runtime
