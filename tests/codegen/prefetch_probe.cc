// Functions that do nothing but prefetch, compiled with the project's flags for
// prefetch_test.py to read as machine code: each must keep its prefetch instruction. GCC 12
// deleted the __builtin_prefetch in HashTimeTable::Prefetch (it sat under a condition), and
// the aggregator's look-ahead prefetched nothing while every other test passed.
#include <cstdint>

#include "civicpulse/core/event_id_filter.h"
#include "civicpulse/core/hash_time_table.h"

namespace civicpulse::core {

void ProbeHashTimeTablePrefetch(const HashTimeTable& table, uint64_t key) { table.Prefetch(key); }

void ProbeEventIdFilterPrefetch(const EventIdFilter& filter, uint64_t key) { filter.Prefetch(key); }

}  // namespace civicpulse::core
