#include "civicpulse/core/participant_sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {
namespace {

constexpr int kRegisters = 1 << ParticipantSketch::kPrecision;
constexpr int kQ = 64 - ParticipantSketch::kPrecision;  // bits left for the rank
// The bottom-k sample kept in dense mode for the concentration ratio: k smallest hashes.
constexpr size_t kSampleSize = ParticipantSketch::kExactLimit;
constexpr uint64_t kNoThreshold = std::numeric_limits<uint64_t>::max();

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

// Participant hash -> event count. Up to kSmallLimit entries it is an unsorted packed array
// searched linearly (12 bytes an entry, one allocation; most cells of a city hold a few
// people); beyond that a flat hash map.
class CountTable {
 public:
  static constexpr size_t kSmallLimit = 8;

  CountTable() = default;
  CountTable(const CountTable& other)
      : small_(other.small_),
        map_(other.map_ ? std::make_unique<absl::flat_hash_map<uint64_t, uint32_t>>(*other.map_)
                        : nullptr) {}
  CountTable& operator=(const CountTable& other) {
    if (this != &other) *this = CountTable(other);
    return *this;
  }
  CountTable(CountTable&&) noexcept = default;
  CountTable& operator=(CountTable&&) noexcept = default;

  size_t size() const { return map_ ? map_->size() : small_.size(); }
  bool empty() const { return size() == 0; }

  void Add(uint64_t hash, uint32_t count) {
    if (map_) {
      (*map_)[hash] += count;
      return;
    }
    for (Entry& e : small_) {
      if (e.hash() == hash) {
        e.count += count;
        return;
      }
    }
    if (small_.size() < kSmallLimit) {
      small_.push_back(Entry::Of(hash, count));
      return;
    }
    map_ = std::make_unique<absl::flat_hash_map<uint64_t, uint32_t>>();
    for (const Entry& e : small_) map_->emplace(e.hash(), e.count);
    std::vector<Entry>().swap(small_);
    (*map_)[hash] += count;
  }

  template <typename Fn>  // fn(uint64_t hash, uint32_t& count)
  void ForEach(Fn fn) {
    if (map_) {
      for (auto& [hash, count] : *map_) fn(hash, count);
    } else {
      for (Entry& e : small_) fn(e.hash(), e.count);
    }
  }
  template <typename Fn>  // fn(uint64_t hash, uint32_t count)
  void ForEach(Fn fn) const {
    if (map_) {
      for (const auto& [hash, count] : *map_) fn(hash, count);
    } else {
      for (const Entry& e : small_) fn(e.hash(), e.count);
    }
  }

  void EraseAbove(uint64_t threshold) {
    if (map_) {
      absl::erase_if(*map_, [threshold](const auto& entry) { return entry.first > threshold; });
    } else {
      std::erase_if(small_, [threshold](const Entry& e) { return e.hash() > threshold; });
    }
  }

  std::vector<std::pair<uint64_t, uint32_t>> Entries() const {
    std::vector<std::pair<uint64_t, uint32_t>> out;
    out.reserve(size());
    ForEach([&out](uint64_t hash, uint32_t count) { out.emplace_back(hash, count); });
    return out;
  }

  size_t MemoryBytes() const {
    return map_ ? sizeof(*map_) + map_->capacity() * (sizeof(std::pair<uint64_t, uint32_t>) + 1)
                : small_.capacity() * sizeof(Entry);
  }

 private:
  // 12 bytes: the hash as two 32-bit halves keeps every member naturally aligned.
  struct Entry {
    uint32_t hash_low;
    uint32_t hash_high;
    uint32_t count;

    static Entry Of(uint64_t hash, uint32_t count) {
      return {static_cast<uint32_t>(hash), static_cast<uint32_t>(hash >> 32), count};
    }
    uint64_t hash() const { return (uint64_t{hash_high} << 32) | hash_low; }
  };
  static_assert(sizeof(Entry) == 12);

  std::vector<Entry> small_;                                       // small mode
  std::unique_ptr<absl::flat_hash_map<uint64_t, uint32_t>> map_;  // map mode when set
};

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
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

struct ParticipantSketch::Rep {
  // Exact mode: every participant. Dense mode: the bottom-k sample (hash <= threshold).
  CountTable counts;
  std::vector<uint8_t> registers;  // empty in exact mode
  uint64_t threshold = kNoThreshold;
  uint64_t total = 0;

  bool dense() const { return !registers.empty(); }

  void AddRegister(uint64_t hash) {
    const uint32_t index = static_cast<uint32_t>(hash >> kQ);
    const uint64_t rest = hash << kPrecision;  // kQ low bits, left-aligned
    const uint8_t rank =
        rest == 0 ? kQ + 1 : static_cast<uint8_t>(std::countl_zero(rest) + 1);
    if (rank > registers[index]) registers[index] = rank;
  }

  void Densify() {
    registers.assign(kRegisters, 0);
    counts.ForEach([this](uint64_t hash, uint32_t) { AddRegister(hash); });
    PruneSample();
  }

  // The bottom-k sample proper: the k smallest hashes held, sorted (the map may hold up to
  // 2k between prunes).
  std::vector<std::pair<uint64_t, uint32_t>> Sample() const {
    std::vector<std::pair<uint64_t, uint32_t>> sample = counts.Entries();
    std::sort(sample.begin(), sample.end());
    if (sample.size() > kSampleSize) sample.resize(kSampleSize);
    return sample;
  }

  // Keeps the sample to at most 2k entries: when over, keeps the k smallest hashes and
  // lowers the threshold to the largest kept.
  void PruneSample() {
    if (counts.size() <= 2 * kSampleSize) return;
    std::vector<uint64_t> hashes;
    hashes.reserve(counts.size());
    counts.ForEach([&hashes](uint64_t hash, uint32_t) { hashes.push_back(hash); });
    std::nth_element(hashes.begin(), hashes.begin() + (kSampleSize - 1), hashes.end());
    threshold = hashes[kSampleSize - 1];
    counts.EraseAbove(threshold);
  }
};

// rep_ is null while the sketch is empty: most cells' new-participant and age sketches stay
// empty, and an empty sketch then costs one pointer.
const ParticipantSketch::Rep& ParticipantSketch::EmptyRep() {
  static const Rep* empty = new Rep;
  return *empty;
}

ParticipantSketch::ParticipantSketch() : rep_(nullptr) {}
ParticipantSketch::~ParticipantSketch() { delete rep_; }
ParticipantSketch::ParticipantSketch(const ParticipantSketch& other)
    : rep_(other.rep_ ? new Rep(*other.rep_) : nullptr) {}
ParticipantSketch& ParticipantSketch::operator=(const ParticipantSketch& other) {
  if (this == &other) return *this;
  if (other.rep_ == nullptr) {
    delete rep_;
    rep_ = nullptr;
  } else if (rep_ == nullptr) {
    rep_ = new Rep(*other.rep_);
  } else {
    *rep_ = *other.rep_;
  }
  return *this;
}
ParticipantSketch::ParticipantSketch(ParticipantSketch&& other) noexcept : rep_(other.rep_) {
  other.rep_ = nullptr;
}
ParticipantSketch& ParticipantSketch::operator=(ParticipantSketch&& other) noexcept {
  std::swap(rep_, other.rep_);
  return *this;
}

void ParticipantSketch::Add(uint64_t participant_hash, uint32_t events) {
  if (rep_ == nullptr) rep_ = new Rep;
  Rep& r = *rep_;
  r.total += events;
  if (r.dense()) {
    r.AddRegister(participant_hash);
    if (participant_hash > r.threshold) return;
    r.counts.Add(participant_hash, events);
    r.PruneSample();
    return;
  }
  r.counts.Add(participant_hash, events);
  if (r.counts.size() > kExactLimit) r.Densify();
}

void ParticipantSketch::Merge(const ParticipantSketch& other) {
  if (other.rep_ == nullptr) return;
  if (rep_ == nullptr) {
    rep_ = new Rep(*other.rep_);
    return;
  }
  Rep& r = *rep_;
  const Rep& o = *other.rep_;
  if (&r == &o) {  // self-union: the same set, counts double
    r.counts.ForEach([](uint64_t, uint32_t& count) { count *= 2; });
    r.total *= 2;
    return;
  }
  r.total += o.total;
  if (!r.dense() && !o.dense()) {
    o.counts.ForEach([&r](uint64_t hash, uint32_t count) { r.counts.Add(hash, count); });
    if (r.counts.size() > kExactLimit) r.Densify();
    return;
  }
  if (!r.dense()) r.Densify();
  if (o.dense()) {
    for (int i = 0; i < kRegisters; ++i) {
      r.registers[i] = std::max(r.registers[i], o.registers[i]);
    }
  } else {
    o.counts.ForEach([&r](uint64_t hash, uint32_t) { r.AddRegister(hash); });
  }
  const uint64_t t = std::min(r.threshold, o.threshold);
  if (t < r.threshold) {  // otherwise nothing held is above it already
    r.threshold = t;
    r.counts.EraseAbove(t);
  }
  o.counts.ForEach([&r, t](uint64_t hash, uint32_t count) {
    if (hash <= t) r.counts.Add(hash, count);
  });
  r.PruneSample();
}

namespace {

// Ertl's improved estimator over HyperLogLog registers.
double EstimateRegisters(const std::vector<uint8_t>& registers) {
  int histogram[kQ + 2] = {};
  for (uint8_t value : registers) ++histogram[value];
  const double m = kRegisters;
  double z = m * Tau(1.0 - histogram[kQ + 1] / m);
  for (int k = kQ; k >= 1; --k) z = 0.5 * (z + histogram[k]);
  z += m * Sigma(histogram[0] / m);
  constexpr double kAlphaInf = 0.5 / 0.6931471805599453;  // 1 / (2 ln 2)
  return std::round(kAlphaInf * m * m / z);
}

}  // namespace

double ParticipantSketch::UnionEstimate(const std::vector<const ParticipantSketch*>& parts) {
  // Exact while the union is small enough to be exact in a merged sketch too.
  absl::flat_hash_set<uint64_t> exact;
  bool dense = false;
  for (const ParticipantSketch* part : parts) {
    if (part->rep_ == nullptr) continue;
    if (part->rep_->dense()) {
      dense = true;
      break;
    }
    part->rep_->counts.ForEach([&exact](uint64_t hash, uint32_t) { exact.insert(hash); });
    if (exact.size() > kExactLimit) {
      dense = true;
      break;
    }
  }
  if (!dense) return static_cast<double>(exact.size());
  // Registers only: the bottom-k sample a merge would also keep is not needed for a count.
  Rep union_rep;
  union_rep.registers.assign(kRegisters, 0);
  for (const ParticipantSketch* part : parts) {
    if (part->rep_ == nullptr) continue;
    const Rep& r = *part->rep_;
    if (r.dense()) {
      for (int i = 0; i < kRegisters; ++i) {
        union_rep.registers[i] = std::max(union_rep.registers[i], r.registers[i]);
      }
    } else {
      r.counts.ForEach([&union_rep](uint64_t hash, uint32_t) { union_rep.AddRegister(hash); });
    }
  }
  return EstimateRegisters(union_rep.registers);
}

double ParticipantSketch::Estimate() const {
  const Rep& r = rep_ ? *rep_ : EmptyRep();
  if (!r.dense()) return static_cast<double>(r.counts.size());
  return EstimateRegisters(r.registers);
}

bool ParticipantSketch::exact() const { return rep_ == nullptr || !rep_->dense(); }
bool ParticipantSketch::empty() const {
  return rep_ == nullptr || (rep_->total == 0 && rep_->counts.empty());
}
uint64_t ParticipantSketch::total_events() const { return rep_ ? rep_->total : 0; }

double ParticipantSketch::TopDecileShare() const {
  if (rep_ == nullptr) return 0.0;
  std::vector<uint32_t> counts;
  if (!rep_->dense()) {
    counts.reserve(rep_->counts.size());
    rep_->counts.ForEach([&counts](uint64_t, uint32_t count) { counts.push_back(count); });
  } else {
    for (const auto& [hash, count] : rep_->Sample()) counts.push_back(count);
  }
  return TopDecileOf(std::move(counts));
}

void ParticipantSketch::ToProto(v1::ParticipantSketch* out) const {
  const Rep& r = rep_ ? *rep_ : EmptyRep();
  out->Clear();
  out->set_total_count(r.total);
  if (!r.dense()) {
    // Sorted, so that equal sketches serialise to equal bytes.
    std::vector<std::pair<uint64_t, uint32_t>> entries = r.counts.Entries();
    std::sort(entries.begin(), entries.end());
    out->mutable_hashes()->Reserve(entries.size());
    out->mutable_counts()->Reserve(entries.size());
    for (const auto& [hash, count] : entries) {
      out->add_hashes(hash);
      out->add_counts(count);
    }
    return;
  }
  out->set_precision(kPrecision);
  out->set_registers(reinterpret_cast<const char*>(r.registers.data()), r.registers.size());
  for (const auto& [hash, count] : r.Sample()) {
    out->add_heavy_hashes(hash);
    out->add_heavy_counts(count);
  }
}

absl::Status ParticipantSketch::FromProto(const v1::ParticipantSketch& in) {
  Rep fresh;
  fresh.total = in.total_count();
  if (in.hashes_size() != in.counts_size() || in.heavy_hashes_size() != in.heavy_counts_size()) {
    return absl::InvalidArgumentError("participant sketch: hashes and counts differ in length");
  }
  if (in.registers().empty()) {
    if (static_cast<size_t>(in.hashes_size()) > kExactLimit) {
      return absl::InvalidArgumentError("participant sketch: exact mode over its limit");
    }
    for (int i = 0; i < in.hashes_size(); ++i) fresh.counts.Add(in.hashes(i), in.counts(i));
  } else {
    if (in.precision() != static_cast<uint32_t>(kPrecision) ||
        in.registers().size() != static_cast<size_t>(kRegisters)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "participant sketch: unsupported precision ", in.precision(), " or register size ",
          in.registers().size()));
    }
    fresh.registers.assign(in.registers().begin(), in.registers().end());
    for (uint8_t value : fresh.registers) {
      if (value > kQ + 1) return absl::InvalidArgumentError("participant sketch: bad register");
    }
    if (static_cast<size_t>(in.heavy_hashes_size()) > 2 * kSampleSize) {
      return absl::InvalidArgumentError("participant sketch: sample over its limit");
    }
    uint64_t largest = 0;
    for (int i = 0; i < in.heavy_hashes_size(); ++i) {
      fresh.counts.Add(in.heavy_hashes(i), in.heavy_counts(i));
      largest = std::max<uint64_t>(largest, in.heavy_hashes(i));
    }
    // A full sample holds exactly the participants with hash <= its largest hash.
    fresh.threshold = fresh.counts.size() >= kSampleSize ? largest : kNoThreshold;
  }
  if (fresh.total == 0 && fresh.counts.empty() && fresh.registers.empty()) {
    delete rep_;
    rep_ = nullptr;
  } else if (rep_ == nullptr) {
    rep_ = new Rep(std::move(fresh));
  } else {
    *rep_ = std::move(fresh);
  }
  return absl::OkStatus();
}

size_t ParticipantSketch::MemoryBytes() const {
  if (rep_ == nullptr) return sizeof(*this);
  return sizeof(*this) + sizeof(Rep) + rep_->registers.capacity() + rep_->counts.MemoryBytes();
}

}  // namespace civicpulse::core
