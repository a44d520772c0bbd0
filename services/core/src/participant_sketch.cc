#include "civicpulse/core/participant_sketch.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/core/mix64.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {
namespace {

constexpr int kRegisters = 1 << ParticipantSketch::kPrecision;
constexpr int kQ = 64 - ParticipantSketch::kPrecision;  // bits left for the rank
// The bottom-k sample kept in dense mode for the concentration ratio: k smallest hashes.
constexpr size_t kSampleSize = ParticipantSketch::kExactLimit;
constexpr uint64_t kNoThreshold = std::numeric_limits<uint64_t>::max();
// Participants of an exact sketch merged into a dense one's sample one by one (below: a
// linear merge of the two).
constexpr size_t kFewIncoming = 16;
// Participants a dense sketch takes below its threshold before it settles them into its
// sample (see Rep::pending).
constexpr size_t kPendingLimit = 128;

using Entry = std::pair<uint64_t, uint32_t>;

// Sorts `entries` by hash (a hash listed twice ends up in adjacent entries). The hashes are uniform
// over their range, so one counting pass over their top bits puts them in buckets of about one
// each, and a bucket needs at most an insertion sort: a few times faster than std::sort for the
// thousands a hash map holds (its sort on every serialisation was a tenth of the aggregator's time
// on a dense stream). A crowded bucket (hashes chosen to collide) falls back to std::sort: never
// quadratic.
void SortByHash(std::vector<Entry>* entries) {
  const size_t n = entries->size();
  if (n < 256) {  // where std::sort is as fast (sketch_benchmark BM_ToProto)
    std::sort(entries->begin(), entries->end());
    return;
  }
  thread_local std::vector<uint32_t> ends;
  thread_local std::vector<Entry> sorted;
  // Buckets over the range the hashes span: all 64 bits for a set of participants, less for
  // a dense sketch's bottom-k sample (its hashes lie below the threshold).
  uint64_t all = 0;
  for (const Entry& e : *entries) all |= e.first;
  const int bits = std::min(16, static_cast<int>(std::bit_width(n)));
  const int shift = std::max(0, static_cast<int>(std::bit_width(all)) - bits);
  ends.assign((size_t{1} << bits) + 1, 0);
  for (const Entry& e : *entries) ++ends[(e.first >> shift) + 1];
  for (size_t b = 1; b < ends.size(); ++b) ends[b] += ends[b - 1];
  // ends[b] is where bucket b starts; after the scatter it is where bucket b ends.
  sorted.resize(n);
  for (const Entry& e : *entries) sorted[ends[e.first >> shift]++] = e;
  uint32_t start = 0;
  for (size_t b = 0; b + 1 < ends.size(); ++b) {
    const uint32_t end = ends[b];
    if (end - start > 16) {
      std::sort(sorted.begin() + start, sorted.begin() + end);
    } else {
      for (uint32_t i = start + 1; i < end; ++i) {
        const Entry v = sorted[i];
        uint32_t j = i;
        for (; j > start && sorted[j - 1].first > v.first; --j) sorted[j] = sorted[j - 1];
        sorted[j] = v;
      }
    }
    start = end;
  }
  entries->swap(sorted);
}

uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Ertl (2017), "New cardinality estimation algorithms for HyperLogLog sketches", sigma/tau.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x, previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z != previous);
  return z;
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x, previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != previous);
  return z / 3.0;
}

double TopDecileOf(std::vector<uint32_t> counts) {
  if (counts.empty()) return 0.0;
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  if (total == 0) return 0.0;
  const size_t top = (counts.size() + 9) / 10;
  std::nth_element(counts.begin(), counts.begin() + (top - 1), counts.end(),
                   std::greater<uint32_t>());
  uint64_t top_events = 0;
  for (size_t i = 0; i < top; ++i) top_events += counts[i];
  return static_cast<double>(top_events) / static_cast<double>(total);
}

}  // namespace

// MurmurHash64A (Austin Appleby, public domain) with a fixed seed and fmix64 finaliser: stable across processes,
// releases and platforms of the same endianness, which merged sketches rely on.
uint64_t HashParticipant(std::string_view participant) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  const size_t len = participant.size();
  uint64_t h = 0x9747b28c9747b28cULL ^ (len * m);
  const char* data = participant.data();
  const char* end = data + (len / 8) * 8;
  for (; data != end; data += 8) {
    uint64_t k = Load64(data);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(data);
  switch (len & 7) {
    case 7: h ^= uint64_t{tail[6]} << 48; [[fallthrough]];
    case 6: h ^= uint64_t{tail[5]} << 40; [[fallthrough]];
    case 5: h ^= uint64_t{tail[4]} << 32; [[fallthrough]];
    case 4: h ^= uint64_t{tail[3]} << 24; [[fallthrough]];
    case 3: h ^= uint64_t{tail[2]} << 16; [[fallthrough]];
    case 2: h ^= uint64_t{tail[1]} << 8; [[fallthrough]];
    case 1:
      h ^= uint64_t{tail[0]};
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  // MurmurHash3's fmix64 on top: Murmur64A alone leaves the top bits of short, similar
  // keys ("p-1", "p-2", ...) correlated enough to bias HyperLogLog by several percent.
  return Fmix64(h);
}

namespace {

// The array form is one block: capacity hashes (8 bytes each, sorted) then as many counts
// (2 bytes each: a count above kMaxArrayCount moves the set to the hash map). Capacities
// are 4 mod 8, so that 10 c + 8 fills one of glibc's 16-byte chunk sizes exactly.
constexpr uint32_t kMaxArrayCount = std::numeric_limits<uint16_t>::max();
constexpr size_t kSlotBytes = sizeof(uint64_t) + sizeof(uint16_t);

// realloc: the block is plain data, and it often grows in place.
char* Reallocate(char* old, uint32_t capacity) {
  void* p = std::realloc(old, capacity * kSlotBytes);
  if (p == nullptr) std::abort();  // out of memory: no exceptions here
  return static_cast<char*>(p);
}

// 4, 12, 20, ..., 68, then about 1.25x: arrays of the cells of a week stay for days, so
// little slack beats fewer reallocations.
uint32_t GrowCapacity(uint32_t capacity) {
  const uint32_t next = capacity + std::max<uint32_t>(8, (capacity / 4) & ~7u);
  return std::min<uint32_t>(next, ParticipantSketch::kArrayLimit);
}

// Index of the first hash >= `hash` in the sorted hashes[lo, hi), hi if there is none.
// Branchless (the halving compiles to a conditional move): participant hashes are random,
// so a branch per step was mispredicted half the time.
uint32_t LowerBoundIn(const uint64_t* hashes, uint32_t lo, uint32_t hi, uint64_t hash) {
  uint32_t n = hi - lo;
  if (n == 0) return lo;
  const uint64_t* base = hashes + lo;
  while (n > 1) {
    const uint32_t half = n / 2;
    base = base[half] < hash ? base + half : base;
    n -= half;
  }
  return static_cast<uint32_t>(base - hashes) + (*base < hash ? 1 : 0);
}

// From this many hashes, LowerBound looks near its guess first; the window it searches there
// is 2 * kGuessRadius hashes wide (256 bytes: four cache lines).
constexpr uint32_t kGuessFrom = 64;
constexpr uint32_t kGuessRadius = 16;

// Index of the first hash >= `hash` in the sorted hashes[0, n). Participant hashes are
// uniform, so the answer lies near n * hash / 2^64: within sqrt(n) / 2 of it on average (11
// for the 512 an array holds at most). Two loads check that a window around that guess holds
// it, and only that window is searched; otherwise (a guess off by more than kGuessRadius, or
// hashes that are not uniform) the whole array. A binary search of a cold array of 512 waits
// on six cache misses one after the other; this one on about two.
uint32_t LowerBound(const uint64_t* hashes, uint32_t n, uint64_t hash) {
  if (n < kGuessFrom) return LowerBoundIn(hashes, 0, n, hash);
  const auto guess = static_cast<uint32_t>((static_cast<unsigned __int128>(hash) * n) >> 64);
  const uint32_t lo = guess > kGuessRadius ? guess - kGuessRadius : 0;
  const uint32_t hi = std::min(n, guess + kGuessRadius);
  // Everything before lo is lower, and hashes[hi] (if any) is not: the answer is in [lo, hi].
  if ((lo == 0 || hashes[lo - 1] < hash) && (hi == n || hashes[hi] >= hash)) {
    return LowerBoundIn(hashes, lo, hi, hash);
  }
  return LowerBoundIn(hashes, 0, n, hash);
}

// How many HyperLogLog registers hold each value (0 to kQ + 1): all Ertl's estimator reads.
using RegisterHistogram = std::array<uint32_t, kQ + 2>;

RegisterHistogram HistogramOf(const std::vector<uint8_t>& registers) {
  // Four partial histograms: most registers hold one of a few values, and one histogram's
  // increments of the same count wait on each other (a store-to-load chain per register);
  // this was a quarter of UnionEstimate's time.
  std::array<RegisterHistogram, 4> partial = {};
  const size_t n = registers.size();
  const uint8_t* r = registers.data();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++partial[0][r[i]];
    ++partial[1][r[i + 1]];
    ++partial[2][r[i + 2]];
    ++partial[3][r[i + 3]];
  }
  for (; i < n; ++i) ++partial[0][r[i]];
  RegisterHistogram histogram = {};
  for (const RegisterHistogram& p : partial) {
    for (size_t k = 0; k < histogram.size(); ++k) histogram[k] += p[k];
  }
  return histogram;
}

// into[i] = max(into[i], from[i]) for the kRegisters registers (a merge of dense sketches).
// Through restrict pointers, so that the compiler vectorises it (the vectors could alias).
void MaxRegisters(uint8_t* __restrict into, const uint8_t* __restrict from) {
  for (int i = 0; i < kRegisters; ++i) into[i] = std::max(into[i], from[i]);
}

// Ertl's improved estimator over HyperLogLog registers, from their histogram.
double EstimateRegisters(const RegisterHistogram& histogram) {
  const double m = kRegisters;
  double z = m * Tau(1.0 - histogram[kQ + 1] / m);
  for (int k = kQ; k >= 1; --k) z = 0.5 * (z + histogram[k]);
  z += m * Sigma(histogram[0] / m);
  constexpr double kAlphaInf = 0.5 / 0.6931471805599453;  // 1 / (2 ln 2)
  return std::round(kAlphaInf * m * m / z);
}

}  // namespace

struct ParticipantSketch::Rep {
  // Exact mode: every participant (empty in dense mode).
  absl::flat_hash_map<uint64_t, uint32_t> counts;
  std::vector<uint8_t> registers;  // empty in exact mode
  // Dense mode: the registers' histogram, kept up to date as they rise, so that an estimate
  // reads 52 counts rather than 16,384 registers (the exporter estimates every window an
  // increment grew, on every merge).
  RegisterHistogram histogram = {};
  // Dense mode: the bottom-k sample, every participant seen with hash <= threshold, sorted by
  // hash, with their exact counts: at most kSampleSize, and when that many the threshold is
  // the largest held (a sorted array: a copy is a memcpy and a merge one linear pass, where a
  // hash map took most of the exporter's time on a dense stream).
  std::vector<Entry> sample;
  uint64_t threshold = kNoThreshold;
  // Dense mode: participants added below the threshold since the sample was last settled,
  // unsorted (a hash may repeat, and may be in the sample too). Inserting each into the
  // sorted sample moved half of it (16 KB), and while a dense cell is young most of its
  // participants are new and fall below the threshold: that was half of the aggregator's
  // time on a dense stream. They are settled kPendingLimit at a time with one sort and one
  // linear merge; every reader of the sample sees it settled (Settled, Settle).
  std::vector<Entry> pending;

  bool dense() const { return !registers.empty(); }

  void AddRegister(uint64_t hash) {
    const uint32_t index = static_cast<uint32_t>(hash >> kQ);
    const uint64_t rest = hash << kPrecision;  // kQ low bits, left-aligned
    const uint8_t rank =
        rest == 0 ? kQ + 1 : static_cast<uint8_t>(std::countl_zero(rest) + 1);
    if (rank > registers[index]) {
      --histogram[registers[index]];
      ++histogram[rank];
      registers[index] = rank;
    }
  }

  // Exact to dense: registers from every participant, the k smallest as the sample.
  void Densify() {
    registers.assign(kRegisters, 0);
    histogram = {};
    histogram[0] = kRegisters;
    sample.assign(counts.begin(), counts.end());
    absl::flat_hash_map<uint64_t, uint32_t>().swap(counts);
    for (const Entry& e : sample) AddRegister(e.first);
    SortByHash(&sample);
    Truncate();
  }

  // Keeps the k smallest of the (sorted) sample; once it holds k, nobody above the largest
  // can ever be among the k smallest.
  void Truncate() {
    if (sample.size() > kSampleSize) sample.resize(kSampleSize);
    if (sample.size() == kSampleSize) threshold = sample.back().first;
  }

  // Adds `count` events of `hash` to the sample (dense mode).
  void AddToSample(uint64_t hash, uint32_t count) {
    if (hash > threshold) return;
    auto it = std::lower_bound(sample.begin(), sample.end(), hash,
                               [](const Entry& e, uint64_t h) { return e.first < h; });
    if (it != sample.end() && it->first == hash) {
      it->second += count;
      return;
    }
    pending.emplace_back(hash, count);
    if (pending.size() >= kPendingLimit) Settle();
  }

  // Moves the pending participants into the sample.
  void Settle() {
    if (pending.empty()) return;
    SortAndCombine(&pending);
    MergeSample(pending, threshold);
    pending.clear();
  }

  // The sample with the pending participants in it: `sample` itself when none are pending,
  // else a thread-local copy valid until the next call on this thread (const readers may
  // run on several threads at once, so they do not settle).
  const std::vector<Entry>& Settled() const {
    if (pending.empty()) return sample;
    thread_local std::vector<Entry> sorted;
    thread_local std::vector<Entry> view;
    sorted.assign(pending.begin(), pending.end());
    SortAndCombine(&sorted);
    Union(sample, sorted, threshold, &view);
    return view;
  }

  // Sorts `entries` by hash and adds up the counts of a hash listed more than once.
  static void SortAndCombine(std::vector<Entry>* entries) {
    SortByHash(entries);
    Combine(entries);
  }

  // Adds up the counts of a hash listed more than once in `entries` (sorted by hash).
  static void Combine(std::vector<Entry>* entries) {
    size_t kept = 0;
    for (size_t i = 0; i < entries->size(); ++i) {
      if (kept > 0 && (*entries)[kept - 1].first == (*entries)[i].first) {
        (*entries)[kept - 1].second += (*entries)[i].second;
      } else {
        (*entries)[kept++] = (*entries)[i];
      }
    }
    entries->resize(kept);
  }

  // Into `out`: the k smallest of the union of `held`'s participants at or below `t` and
  // `incoming` (both sorted by hash and distinct; counts of a hash in both add).
  static void Union(const std::vector<Entry>& held, const std::vector<Entry>& incoming, uint64_t t,
                    std::vector<Entry>* out) {
    out->clear();
    out->reserve(std::min(held.size() + incoming.size(), kSampleSize));
    auto a = held.begin();
    const auto a_end = std::upper_bound(held.begin(), held.end(), t,
                                        [](uint64_t h, const Entry& e) { return h < e.first; });
    auto b = incoming.begin();
    while (out->size() < kSampleSize && (a != a_end || b != incoming.end())) {
      if (b == incoming.end() || (a != a_end && a->first < b->first)) {
        out->push_back(*a++);
      } else if (a == a_end || b->first < a->first) {
        out->push_back(*b++);
      } else {
        out->push_back({a->first, a->second + b->second});
        ++a;
        ++b;
      }
    }
  }

  // The union with `incoming` (sorted by hash, distinct; counts add) of the participants at
  // or below `t`, which both hold completely, as the new sample. REQUIRES: nothing pending
  // but what `incoming` holds (Settle passes the pending list itself).
  void MergeSample(const std::vector<Entry>& incoming, uint64_t t) {
    thread_local std::vector<Entry> merged;
    Union(sample, incoming, t, &merged);
    sample.swap(merged);
    threshold = t;
    Truncate();
  }
};

bool ParticipantSketch::dense() const { return capacity_ == kRep && data_.rep->dense(); }

size_t ParticipantSketch::held() const {
  switch (capacity_) {
    case kEmpty: return 0;
    case kOne: return 1;
    case kRep:
      return data_.rep->dense() ? data_.rep->Settled().size() : data_.rep->counts.size();
    default: return size_;
  }
}

template <typename Fn>
void ParticipantSketch::ForEachHeld(Fn fn) const {
  switch (capacity_) {
    case kEmpty:
      return;
    case kOne:
      fn(data_.hash, size_);
      return;
    case kRep:
      if (data_.rep->dense()) {
        for (const auto& [hash, count] : data_.rep->Settled()) fn(hash, count);
      } else {
        for (const auto& [hash, count] : data_.rep->counts) fn(hash, count);
      }
      return;
    default:
      for (uint32_t i = 0; i < size_; ++i) fn(hashes()[i], uint32_t{counts()[i]});
  }
}

uint64_t* ParticipantSketch::hashes() const {
  return reinterpret_cast<uint64_t*>(data_.block);
}
uint16_t* ParticipantSketch::counts() const {
  return reinterpret_cast<uint16_t*>(data_.block + capacity_ * sizeof(uint64_t));
}

void ParticipantSketch::AddExact(uint64_t hash, uint32_t count) {
  switch (capacity_) {
    case kEmpty:
      data_.hash = hash;
      size_ = count;
      capacity_ = kOne;
      return;
    case kOne: {
      if (data_.hash == hash) {
        size_ += count;  // wraps like the map's uint32 counts would
        return;
      }
      if (size_ > kMaxArrayCount || count > kMaxArrayCount) {
        ToRep().counts[hash] += count;
        return;
      }
      const uint64_t held_hash = data_.hash;
      const uint16_t held_count = static_cast<uint16_t>(size_);
      data_.block = Reallocate(nullptr, 4);
      capacity_ = 4;
      size_ = 2;
      const bool first = held_hash < hash;
      hashes()[0] = first ? held_hash : hash;
      hashes()[1] = first ? hash : held_hash;
      counts()[0] = first ? held_count : static_cast<uint16_t>(count);
      counts()[1] = first ? static_cast<uint16_t>(count) : held_count;
      return;
    }
    case kRep:
      data_.rep->counts[hash] += count;
      return;
    default:
      break;
  }
  const uint32_t at = LowerBound(hashes(), size_, hash);
  if (at < size_ && hashes()[at] == hash) {
    if (uint64_t{counts()[at]} + count > kMaxArrayCount) {
      ToRep().counts[hash] += count;
    } else {
      counts()[at] = static_cast<uint16_t>(counts()[at] + count);
    }
    return;
  }
  if (count > kMaxArrayCount || (size_ == capacity_ && capacity_ >= kArrayLimit)) {
    ToRep().counts[hash] += count;
    return;
  }
  if (size_ == capacity_) {
    const uint32_t old_capacity = capacity_;
    capacity_ = GrowCapacity(capacity_);
    data_.block = Reallocate(data_.block, capacity_);
    // The counts follow the (now longer) hash array.
    std::memmove(data_.block + capacity_ * sizeof(uint64_t),
                 data_.block + old_capacity * sizeof(uint64_t), size_ * sizeof(uint16_t));
  }
  uint64_t* h = hashes();
  uint16_t* c = counts();
  std::memmove(h + at + 1, h + at, (size_ - at) * sizeof(uint64_t));
  std::memmove(c + at + 1, c + at, (size_ - at) * sizeof(uint16_t));
  h[at] = hash;
  c[at] = static_cast<uint16_t>(count);
  ++size_;
}

ParticipantSketch::Rep& ParticipantSketch::ToRep() {
  if (capacity_ == kRep) return *data_.rep;
  auto* rep = new Rep;
  // Room for the people held and the one arriving, no more: reserving 2 * kArrayLimit gave
  // each map 511 slots (8 KB) where 255 hold up to 223 people, and a dense stream's hourly
  // cells have a couple of hundred each (BM_Apply's state: 398 -> 326 MiB).
  rep->counts.reserve(held() + 1);
  ForEachHeld([rep](uint64_t hash, uint32_t count) { rep->counts.emplace(hash, count); });
  if (capacity_ != kEmpty && capacity_ != kOne) std::free(data_.block);
  data_.rep = rep;
  size_ = 0;
  capacity_ = kRep;
  return *rep;
}

void ParticipantSketch::Release() {
  if (capacity_ == kRep) {
    delete data_.rep;
  } else if (capacity_ != kEmpty && capacity_ != kOne) {
    std::free(data_.block);
  }
  data_.hash = 0;
  size_ = 0;
  capacity_ = kEmpty;
}

ParticipantSketch::ParticipantSketch() = default;
ParticipantSketch::~ParticipantSketch() { Release(); }

ParticipantSketch::ParticipantSketch(const ParticipantSketch& other)
    : total_(other.total_), data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  if (capacity_ == kRep) {
    data_.rep = new Rep(*other.data_.rep);
  } else if (capacity_ != kEmpty && capacity_ != kOne) {
    data_.block = Reallocate(nullptr, capacity_);
    std::memcpy(data_.block, other.data_.block, capacity_ * kSlotBytes);
  }
}

ParticipantSketch& ParticipantSketch::operator=(const ParticipantSketch& other) {
  if (this != &other) *this = ParticipantSketch(other);
  return *this;
}

ParticipantSketch::ParticipantSketch(ParticipantSketch&& other) noexcept
    : total_(other.total_), data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.total_ = 0;
  other.data_.hash = 0;
  other.size_ = 0;
  other.capacity_ = kEmpty;
}

ParticipantSketch& ParticipantSketch::operator=(ParticipantSketch&& other) noexcept {
  std::swap(total_, other.total_);
  std::swap(data_, other.data_);
  std::swap(size_, other.size_);
  std::swap(capacity_, other.capacity_);
  return *this;
}

void ParticipantSketch::Add(uint64_t participant_hash, uint32_t events) {
  total_ += events;
  if (capacity_ != kRep) {
    AddExact(participant_hash, events);  // an array never holds more than kExactLimit
    return;
  }
  Rep& r = *data_.rep;
  if (r.dense()) {
    r.AddRegister(participant_hash);
    r.AddToSample(participant_hash, events);
    return;
  }
  r.counts[participant_hash] += events;
  if (r.counts.size() > kExactLimit) r.Densify();
}

void ParticipantSketch::Merge(const ParticipantSketch& other) {
  if (other.capacity_ == kEmpty && other.total_ == 0) return;
  if (&other == this) {  // self-union: the same set, counts double
    switch (capacity_) {
      case kEmpty: break;
      case kOne: size_ *= 2; break;
      case kRep:
        data_.rep->Settle();
        for (auto& [hash, count] : data_.rep->counts) count *= 2;
        for (auto& [hash, count] : data_.rep->sample) count *= 2;
        break;
      default: {
        uint16_t largest = 0;
        for (uint32_t i = 0; i < size_; ++i) largest = std::max(largest, counts()[i]);
        if (2 * uint32_t{largest} > kMaxArrayCount) {
          for (auto& [hash, count] : ToRep().counts) count *= 2;
        } else {
          for (uint32_t i = 0; i < size_; ++i) counts()[i] = static_cast<uint16_t>(2 * counts()[i]);
        }
      }
    }
    total_ *= 2;
    return;
  }
  if (capacity_ == kEmpty && total_ == 0) {  // into an empty sketch: a copy
    *this = other;
    return;
  }
  total_ += other.total_;
  if (!dense() && !other.dense()) {
    other.ForEachHeld([this](uint64_t hash, uint32_t count) { AddExact(hash, count); });
    if (capacity_ == kRep && data_.rep->counts.size() > kExactLimit) data_.rep->Densify();
    return;
  }
  Rep& r = ToRep();
  if (!r.dense()) r.Densify();
  r.Settle();
  uint64_t t = r.threshold;
  if (other.dense()) {
    const Rep& o = *other.data_.rep;
    MaxRegisters(r.registers.data(), o.registers.data());
    r.histogram = HistogramOf(r.registers);
    t = std::min(t, o.threshold);
  } else {
    other.ForEachHeld([&r](uint64_t hash, uint32_t) { r.AddRegister(hash); });
  }
  // Everyone at or below t is held by both sides (each holds all it saw below its own
  // threshold), so the union's k smallest are among them, with their counts complete.
  if (other.dense()) {
    r.MergeSample(other.data_.rep->Settled(), t);  // sorted already
    return;
  }
  thread_local std::vector<Entry> incoming;
  incoming.clear();
  other.ForEachHeld([t](uint64_t hash, uint32_t count) {
    if (hash <= t) incoming.emplace_back(hash, count);
  });
  // A few (an increment into a dense cell or window: most of its people lie above t) go in
  // one by one; a linear merge would copy the whole sample for them.
  if (incoming.size() <= kFewIncoming) {
    for (const auto& [hash, count] : incoming) r.AddToSample(hash, count);
    return;
  }
  if (!std::is_sorted(incoming.begin(), incoming.end())) SortByHash(&incoming);  // a hash map
  r.MergeSample(incoming, t);
}

namespace {

// The distinct hashes of UnionEstimate's exact attempt: it stops once they pass kExactLimit,
// after adding one exact part (at most kExactLimit more), so the table is at most half full.
// Emptied in O(1) by a new stamp. One per thread, so that sealing hours (a union of 24 or 168
// hourly sketches for each series, every hour) allocates nothing; an absl::flat_hash_set per
// call was half of UnionEstimate's cost in a week's replay.
class DistinctHashes {
 public:
  void Clear() {
    size_ = 0;
    if (++stamp_ == 0) {  // wrapped: no slot may carry a stamp from 2^32 clears ago
      std::fill(stamps_.begin(), stamps_.end(), 0);
      stamp_ = 1;
    }
  }
  // Participant hashes are mixed already: their low bits place them.
  void Insert(uint64_t hash) {
    for (size_t i = hash & kMask;; i = (i + 1) & kMask) {
      if (stamps_[i] != stamp_) {
        stamps_[i] = stamp_;
        keys_[i] = hash;
        ++size_;
        return;
      }
      if (keys_[i] == hash) return;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kSlots = 8192;
  static constexpr size_t kMask = kSlots - 1;
  static_assert(2 * ParticipantSketch::kExactLimit <= kSlots / 2);
  std::vector<uint64_t> keys_ = std::vector<uint64_t>(kSlots);
  std::vector<uint32_t> stamps_ = std::vector<uint32_t>(kSlots, 0);
  uint32_t stamp_ = 0;
  size_t size_ = 0;
};
}  // namespace

double ParticipantSketch::UnionEstimate(const std::vector<const ParticipantSketch*>& parts) {
  // Exact while the union is small enough to be exact in a merged sketch too.
  bool dense = false;
  size_t held_sum = 0;
  for (const ParticipantSketch* part : parts) {
    if (part->dense()) {
      dense = true;  // no set to size (held() would settle a copy of the sample)
      break;
    }
    held_sum += part->held();
  }
  // The distinct hashes of the exact parts, or false once they are more than kExactLimit.
  auto count_exactly = [&parts](size_t* distinct) {
    static thread_local DistinctHashes exact;
    exact.Clear();
    for (const ParticipantSketch* part : parts) {
      part->ForEachHeld([](uint64_t hash, uint32_t) { exact.Insert(hash); });
      if (exact.size() > kExactLimit) return false;
    }
    *distinct = exact.size();
    return true;
  };
  size_t distinct = 0;
  // Few enough participants held that the union is exact, whatever their overlap.
  if (!dense && held_sum <= kExactLimit && count_exactly(&distinct)) {
    return static_cast<double>(distinct);
  }
  // Registers only: the bottom-k sample a merge would also keep is not needed for a count.
  // One per thread, reset in place (no allocation).
  static thread_local Rep union_rep;
  union_rep.registers.assign(kRegisters, 0);
  union_rep.histogram = {};
  union_rep.histogram[0] = kRegisters;
  for (const ParticipantSketch* part : parts) {
    if (part->dense()) {
      const Rep& r = *part->data_.rep;
      MaxRegisters(union_rep.registers.data(), r.registers.data());
    } else {
      part->ForEachHeld([](uint64_t hash, uint32_t) { union_rep.AddRegister(hash); });
    }
  }
  // AddRegister keeps the histogram; a merge of dense registers does not.
  const RegisterHistogram histogram =
      dense ? HistogramOf(union_rep.registers) : union_rep.histogram;
  // Each distinct participant sets one register, so more registers set than kExactLimit
  // means more participants than that, and a merge would be dense: the exact attempt (which
  // decides the rest) is needed only below that.
  if (!dense && kRegisters - histogram[0] <= kExactLimit && count_exactly(&distinct)) {
    return static_cast<double>(distinct);
  }
  return EstimateRegisters(histogram);
}

double ParticipantSketch::Estimate() const {
  if (!dense()) return static_cast<double>(held());
  return EstimateRegisters(data_.rep->histogram);
}

bool ParticipantSketch::exact() const { return !dense(); }
bool ParticipantSketch::empty() const { return total_ == 0 && held() == 0; }
uint64_t ParticipantSketch::total_events() const { return total_; }

double ParticipantSketch::TopDecileShare() const {
  if (capacity_ == kEmpty) return 0.0;
  std::vector<uint32_t> counts;
  if (!dense()) {
    counts.reserve(held());
    ForEachHeld([&counts](uint64_t, uint32_t count) { counts.push_back(count); });
  } else {
    for (const auto& [hash, count] : data_.rep->Settled()) counts.push_back(count);
  }
  return TopDecileOf(std::move(counts));
}

void ParticipantSketch::ToProto(v1::ParticipantSketch* out) const {
  out->Clear();
  out->set_total_count(total_);
  if (!dense()) {
    // Sorted, so that equal sketches serialise to equal bytes (the arrays are kept sorted).
    const int n = static_cast<int>(held());
    out->mutable_hashes()->Resize(n, 0);
    out->mutable_counts()->Resize(n, 0);
    uint64_t* hashes_out = out->mutable_hashes()->mutable_data();
    uint32_t* counts_out = out->mutable_counts()->mutable_data();
    if (capacity_ == kRep) {
      thread_local std::vector<Entry> entries;
      entries.assign(data_.rep->counts.begin(), data_.rep->counts.end());
      SortByHash(&entries);
      for (int i = 0; i < n; ++i) {
        hashes_out[i] = entries[i].first;
        counts_out[i] = entries[i].second;
      }
    } else {
      int i = 0;
      ForEachHeld([&](uint64_t hash, uint32_t count) {
        hashes_out[i] = hash;
        counts_out[i] = count;
        ++i;
      });
    }
    return;
  }
  const Rep& r = *data_.rep;
  out->set_precision(kPrecision);
  out->set_registers(reinterpret_cast<const char*>(r.registers.data()), r.registers.size());
  const std::vector<Entry>& sample = r.Settled();
  const int n = static_cast<int>(sample.size());
  out->mutable_heavy_hashes()->Resize(n, 0);
  out->mutable_heavy_counts()->Resize(n, 0);
  uint64_t* hashes_out = out->mutable_heavy_hashes()->mutable_data();
  uint32_t* counts_out = out->mutable_heavy_counts()->mutable_data();
  for (int i = 0; i < n; ++i) {
    hashes_out[i] = sample[i].first;
    counts_out[i] = sample[i].second;
  }
}

absl::Status ParticipantSketch::FromProto(const v1::ParticipantSketch& in) {
  ParticipantSketch fresh;
  fresh.total_ = in.total_count();
  if (in.hashes_size() != in.counts_size() || in.heavy_hashes_size() != in.heavy_counts_size()) {
    return absl::InvalidArgumentError("participant sketch: hashes and counts differ in length");
  }
  if (in.registers().empty()) {
    if (static_cast<size_t>(in.hashes_size()) > kExactLimit) {
      return absl::InvalidArgumentError("participant sketch: exact mode over its limit");
    }
    for (int i = 0; i < in.hashes_size(); ++i) fresh.AddExact(in.hashes(i), in.counts(i));
  } else {
    if (in.precision() != static_cast<uint32_t>(kPrecision) ||
        in.registers().size() != static_cast<size_t>(kRegisters)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "participant sketch: unsupported precision ", in.precision(), " or register size ",
          in.registers().size()));
    }
    for (char value : in.registers()) {
      if (static_cast<uint8_t>(value) > kQ + 1) {
        return absl::InvalidArgumentError("participant sketch: bad register");
      }
    }
    if (static_cast<size_t>(in.heavy_hashes_size()) > 2 * kSampleSize) {
      return absl::InvalidArgumentError("participant sketch: sample over its limit");
    }
    Rep& r = fresh.ToRep();
    absl::flat_hash_map<uint64_t, uint32_t>().swap(r.counts);  // ToRep's room for exact mode
    r.registers.assign(in.registers().begin(), in.registers().end());
    r.histogram = HistogramOf(r.registers);
    r.sample.reserve(in.heavy_hashes_size());
    for (int i = 0; i < in.heavy_hashes_size(); ++i) {
      r.sample.emplace_back(in.heavy_hashes(i), in.heavy_counts(i));
    }
    // Writers send it sorted and distinct; anything else is put in order (counts of a hash
    // listed twice add up).
    if (!std::is_sorted(r.sample.begin(), r.sample.end())) SortByHash(&r.sample);
    Rep::Combine(&r.sample);
    // A full sample holds exactly the participants with hash <= its largest hash.
    r.Truncate();
  }
  *this = std::move(fresh);
  return absl::OkStatus();
}

size_t ParticipantSketch::MemoryBytes() const {
  switch (capacity_) {
    case kEmpty:
    case kOne:
      return sizeof(*this);
    case kRep: {
      const Rep& r = *data_.rep;
      return sizeof(*this) + sizeof(Rep) + r.registers.capacity() +
             r.counts.capacity() * (sizeof(std::pair<uint64_t, uint32_t>) + 1) +
             (r.sample.capacity() + r.pending.capacity()) * sizeof(Entry);
    }
    default:
      return sizeof(*this) + capacity_ * kSlotBytes;
  }
}

}  // namespace civicpulse::core
