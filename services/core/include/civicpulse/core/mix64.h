// Fmix64: MurmurHash3's 64-bit finalizer (Austin Appleby, public domain). Every bit of the
// result depends on every bit of the input: it turns keys whose bits are correlated (short,
// similar names; one table's order) into ones that look random.
//
// Thread-safe (a pure function). Does no I/O.
#pragma once

#include <cstdint>

namespace civicpulse::core {

constexpr uint64_t Fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace civicpulse::core
