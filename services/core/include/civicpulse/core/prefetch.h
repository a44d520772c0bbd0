// PrefetchForRead: asks the CPU to start loading the cache line holding `address` (a hint:
// no effect on any value, never faults, even for an address that is not mapped).
//
// Written as an asm statement on x86-64 because GCC 12 deletes a __builtin_prefetch that
// sits under a condition (`if (capacity_ != 0) __builtin_prefetch(...)` compiled to nothing
// at -O2, so the aggregator's look-ahead prefetches of its two tables never ran; the
// compiler cannot drop a volatile asm statement. The test prefetch_kept
// (tests/codegen/prefetch_test.py) reads the machine code of functions that only prefetch, and
// fails if the instruction is gone again.
//
// Thread-safe. Does no I/O.
#pragma once

namespace civicpulse::core {

inline void PrefetchForRead(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address);
#endif
}

}  // namespace civicpulse::core
