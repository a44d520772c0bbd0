#include "civicpulse/core/areas.h"
#include "civicpulse/simulator/traffic_model.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "civicpulse/core/event_codec.h"

namespace civicpulse::simulator {
namespace {

using core::AgeBand;
using core::CoproductionType;
using core::Kind;
using core::Mode;
using core::Sector;

constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int kHoursPerWeek = 7 * 24;

// Debian's abseil has its own string_view; convert explicitly for absl::StrCat.
absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

int KindIndex(Kind kind) { return static_cast<int>(kind) - 1; }

// ---- rhythms ------------------------------------------------------------------------------

// Hour-of-day shapes (UTC): night lows, a morning rise, an evening peak. Relative values,
// normalised per kind over the week below.
constexpr std::array<double, 24> kWatchHours = {
    0.45, 0.30, 0.18, 0.10, 0.08, 0.10, 0.20, 0.35, 0.50, 0.60, 0.65, 0.70,  // 00-11
    0.75, 0.75, 0.75, 0.85, 1.00, 1.25, 1.60, 1.90, 2.00, 1.80, 1.30, 0.80};  // 12-23
constexpr std::array<double, 24> kShiftHours = {
    0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.20, 0.55, 1.00, 1.35, 1.45, 1.40,  // 00-11
    1.25, 1.30, 1.35, 1.30, 1.25, 1.35, 1.55, 1.60, 1.30, 0.80, 0.35, 0.12};  // 12-23
constexpr std::array<double, 24> kRecyclingHours = {
    0.10, 0.05, 0.03, 0.02, 0.02, 0.05, 0.15, 0.45, 0.80, 1.05, 1.20, 1.25,  // 00-11
    1.20, 1.15, 1.15, 1.20, 1.35, 1.60, 1.85, 1.80, 1.45, 0.95, 0.50, 0.22};  // 12-23

// Day-of-week levels, Monday first: watch reports rise on Friday and Saturday nights,
// shifts thin out at weekends, recycling peaks on Saturday.
constexpr std::array<double, 7> kWatchDays = {0.90, 0.90, 0.95, 1.00, 1.20, 1.30, 0.95};
constexpr std::array<double, 7> kShiftDays = {1.10, 1.10, 1.10, 1.10, 1.00, 0.70, 0.60};
constexpr std::array<double, 7> kRecyclingDays = {0.85, 0.85, 0.85, 0.90, 0.95, 1.70, 1.30};

struct RhythmTable {
  std::array<std::array<double, kHoursPerWeek>, core::kKindCount> rate;
  std::array<double, kHoursPerWeek> hour_max{};  // max over kinds, per hour of the week
};

const RhythmTable& Rhythms() {
  static const RhythmTable table = [] {
    RhythmTable t;
    const std::array<const std::array<double, 24>*, 3> hours = {&kWatchHours, &kShiftHours,
                                                                &kRecyclingHours};
    const std::array<const std::array<double, 7>*, 3> days = {&kWatchDays, &kShiftDays,
                                                              &kRecyclingDays};
    for (int k = 0; k < core::kKindCount; ++k) {
      double sum = 0;
      for (int h = 0; h < kHoursPerWeek; ++h) {
        const int day = h / 24;
        const int hour = h % 24;
        double value = (*hours[k])[hour] * (*days[k])[day];
        // Weekend mornings start late: people sleep in on Saturday and Sunday.
        if (day >= 5 && hour >= 6 && hour <= 9) value *= 0.6;
        t.rate[k][h] = value;
        sum += value;
      }
      for (int h = 0; h < kHoursPerWeek; ++h) {
        t.rate[k][h] *= kHoursPerWeek / sum;
        t.hour_max[h] = std::max(t.hour_max[h], t.rate[k][h]);
      }
    }
    return t;
  }();
  return table;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int HourOfWeek(int64_t time_ms) {
  int64_t day = time_ms / kDayMs;
  int64_t ms_of_day = time_ms % kDayMs;
  if (ms_of_day < 0) {
    ms_of_day += kDayMs;
    --day;
  }
  // 1970-01-01 was a Thursday (Monday = 0 gives 3).
  const int64_t dow = ((day + 3) % 7 + 7) % 7;
  return static_cast<int>(dow * 24 + ms_of_day / kHourMs);
}

// ---- the city's vocabulary -----------------------------------------------------------------

struct Weighted {
  std::string_view name;
  double weight;
};

constexpr std::array<Weighted, 10> kWatchCategories = {{
    {"suspicious_vehicle", 0.18},
    {"suspicious_person", 0.14},
    {"antisocial_behaviour", 0.16},
    {"vandalism", 0.10},
    {"graffiti", 0.07},
    {"burglary", 0.05},
    {"street_lighting", 0.08},
    {"noise", 0.08},
    {"fly_tipping", 0.06},
    {"patrol", 0.08},
}};

struct Organisation {
  std::string_view name;
  bool public_body;  // false: self-organising civil society
  Sector sector;
  double weight;
};

constexpr std::array<Organisation, 10> kOrganisations = {{
    {"City Hospital", true, Sector::kPublicHealth, 0.25},
    {"Community Transport", true, Sector::kPublicHealth, 0.12},
    {"Meals on Wheels", true, Sector::kPublicHealth, 0.12},
    {"Befriending Service", true, Sector::kPublicHealth, 0.12},
    {"Park Rangers", true, Sector::kLocalEnvironment, 0.07},
    {"Food Bank", false, Sector::kPublicHealth, 0.10},
    {"St Mary's Hospice", false, Sector::kPublicHealth, 0.08},
    {"Peer Support Group", false, Sector::kPublicHealth, 0.06},
    {"Riverside Sports Club", false, Sector::kPublicHealth, 0.05},
    {"Street Pastors", false, Sector::kCommunitySafety, 0.03},
}};

struct Material {
  std::string_view name;
  double typical_kg;  // median of a drop-off
  double weight;
};

constexpr std::array<Material, 5> kMaterials = {{
    {"glass", 4.0, 0.25},
    {"paper", 3.0, 0.30},
    {"plastic", 1.5, 0.25},
    {"metal", 2.0, 0.10},
    {"textiles", 5.0, 0.10},
}};

// Age bands with their share of participants and relative activity (involvement rises
// with age). Index 0 is "not disclosed".
struct AgeShare {
  AgeBand band;
  double share;
  double activity;
};

constexpr std::array<AgeShare, 8> kAgeShares = {{
    {AgeBand::kNone, 0.12, 1.00},
    {AgeBand::k16To24, 0.09, 0.60},
    {AgeBand::k25To34, 0.12, 0.70},
    {AgeBand::k35To44, 0.14, 0.85},
    {AgeBand::k45To54, 0.15, 1.00},
    {AgeBand::k55To64, 0.15, 1.20},
    {AgeBand::k65To74, 0.14, 1.45},
    {AgeBand::k75Plus, 0.09, 1.20},
}};

// Preferred kinds: watch_report, volunteer_shift, recycling.
constexpr std::array<double, 3> kKindShares = {0.33, 0.22, 0.45};
// Probability that an event is of the participant's preferred kind (else by kKindShares).
constexpr double kPreferredKindProbability = 0.75;
// Probability that an event happens in the participant's home area.
constexpr double kHomeAreaProbability = 0.92;

// Co-production types by kind: co_commissioning, co_design, co_delivery, co_assessment.
constexpr std::array<std::array<double, 4>, 3> kCoproductionShares = {{
    {0.05, 0.07, 0.62, 0.26},  // watch reports: reporting is co-monitoring
    {0.05, 0.08, 0.80, 0.07},  // shifts
    {0.02, 0.03, 0.90, 0.05},  // recycling
}};

void SetNumberSuffix(std::string* out, size_t prefix_len, int64_t n) {
  out->resize(prefix_len);
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), n).ptr);
}

}  // namespace

// ---- helpers of the public interface ------------------------------------------------------

bool Drop::Covers(std::string_view event_area, Kind event_kind, int64_t time_ms) const {
  return (area.empty() || area == event_area) && (!kind || *kind == event_kind) &&
         time_ms >= start_ms && time_ms - start_ms < duration_ms;
}

std::vector<AreaSpec> DefaultAreas(int count, uint64_t seed) {
  std::mt19937_64 engine(seed ^ 0x9e3779b97f4a7c15ULL);
  const int width = std::max(2, static_cast<int>(std::to_string(count).size()));
  std::vector<AreaSpec> areas;
  areas.reserve(std::max(count, 0));
  for (int i = 1; i <= count; ++i) {
    std::string digits = std::to_string(i);
    std::string name = "W" + std::string(width - digits.size(), '0') + digits;
    const double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;
    // Wards of 5,000 to 20,000 residents.
    areas.push_back({std::move(name), std::round(5000 + 15000 * u)});
  }
  return areas;
}

absl::StatusOr<std::vector<AreaSpec>> ParseAreasCsv(std::string_view text,
                                                    std::string_view origin) {
  // The one parser of the areas file (core/areas.h); what is left here is the simulator's
  // own rule for areas without a residents count.
  absl::StatusOr<core::AreaList> list = core::ParseAreaList(text, origin);
  if (!list.ok()) return list.status();
  std::vector<AreaSpec> areas;
  std::vector<bool> stated;
  for (const std::string& name : list->areas) {
    const double residents = list->ResidentsOf(name).value_or(0);
    stated.push_back(residents > 0);
    areas.push_back({name, residents});
  }
  if (areas.empty()) return absl::InvalidArgumentError(absl::StrCat(Sv(origin), ": no areas"));
  double sum = 0;
  int known = 0;
  for (size_t i = 0; i < areas.size(); ++i) {
    if (stated[i]) {
      sum += areas[i].residents;
      ++known;
    }
  }
  const double fill = known > 0 ? sum / known : 10000;
  for (size_t i = 0; i < areas.size(); ++i) {
    if (!stated[i]) areas[i].residents = fill;
  }
  return areas;
}

double RhythmMultiplier(Kind kind, int64_t time_ms) {
  return Rhythms().rate[KindIndex(kind)][HourOfWeek(time_ms)];
}

absl::StatusOr<int64_t> ParseSpan(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  if (text == "0") return 0;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t value = 0;
    const size_t begin = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > 1000000000) {
        return absl::InvalidArgumentError(absl::StrCat("duration too long: \"", Sv(text), "\""));
      }
      ++i;
    }
    if (i == begin || i == text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad duration \"", Sv(text), "\" (expected e.g. 90s, 30m, 2h, 28d, 1h30m)"));
    }
    int64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1000; break;
      case 'm': unit = 60 * 1000; break;
      case 'h': unit = kHourMs; break;
      case 'd': unit = kDayMs; break;
      case 'w': unit = 7 * kDayMs; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "bad duration \"", Sv(text), "\" (units: s, m, h, d, w)"));
    }
    ++i;
    total += value * unit;
    if (total > 3650 * kDayMs) {
      return absl::InvalidArgumentError(absl::StrCat("duration too long: \"", Sv(text), "\""));
    }
  }
  return total;
}

absl::StatusOr<Drop> ParseDrop(std::string_view spec, int64_t now_ms) {
  const auto bad = [spec](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--drop \"", Sv(spec), "\": ", why,
        " (expected AREA:KIND:START:DURATION:FACTOR, e.g. W03:volunteer_shift:now+10m:30m:0.2)"));
  };
  // START may be an RFC 3339 time with colons: split two fields off each end.
  const size_t c1 = spec.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : spec.find(':', c1 + 1);
  const size_t c4 = spec.rfind(':');
  const size_t c3 = c4 == std::string_view::npos || c4 == 0 ? std::string_view::npos
                                                             : spec.rfind(':', c4 - 1);
  if (c2 == std::string_view::npos || c3 == std::string_view::npos || c3 <= c2) {
    return bad("needs five fields");
  }
  const std::string_view area = spec.substr(0, c1);
  const std::string_view kind = spec.substr(c1 + 1, c2 - c1 - 1);
  const std::string_view start = spec.substr(c2 + 1, c3 - c2 - 1);
  const std::string_view duration = spec.substr(c3 + 1, c4 - c3 - 1);
  const std::string_view factor = spec.substr(c4 + 1);

  Drop drop;
  if (area.empty()) return bad("empty area");
  if (area != "*") drop.area = std::string(area);
  if (kind != "*" && kind != "all") {
    drop.kind = core::ParseKind(kind);
    if (!drop.kind) return bad("unknown kind (watch_report, volunteer_shift, recycling or *)");
  }
  if (start.substr(0, 3) == "now") {
    std::string_view rest = start.substr(3);
    int64_t offset = 0;
    if (!rest.empty()) {
      const char sign = rest[0];
      if (sign != '+' && sign != '-') return bad("START is now, now+SPAN, now-SPAN or a time");
      absl::StatusOr<int64_t> span = ParseSpan(rest.substr(1));
      if (!span.ok()) return bad(span.status().message());
      offset = sign == '+' ? *span : -*span;
    }
    drop.start_ms = now_ms + offset;
  } else if (!core::ParseRfc3339(start, &drop.start_ms)) {
    return bad("START is now, now+SPAN, now-SPAN or an RFC 3339 time");
  }
  absl::StatusOr<int64_t> span = ParseSpan(duration);
  if (!span.ok()) return bad(span.status().message());
  if (*span <= 0) return bad("DURATION must be positive");
  drop.duration_ms = *span;
  const std::string factor_text(factor);
  char* end = nullptr;
  drop.factor = std::strtod(factor_text.c_str(), &end);
  if (factor_text.empty() || end != factor_text.c_str() + factor_text.size() ||
      !std::isfinite(drop.factor) || drop.factor < 0 || drop.factor > 100) {
    return bad("FACTOR must be a number from 0 to 100");
  }
  return drop;
}

// ---- the model ----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<TrafficModel>> TrafficModel::Create(TrafficOptions options) {
  if (!(options.rate_per_second > 0) || !std::isfinite(options.rate_per_second) ||
      options.rate_per_second > 1e7) {
    return absl::InvalidArgumentError("rate must be > 0 and <= 10,000,000 events/s");
  }
  if (options.participants < 1 || options.participants > 100000000) {
    return absl::InvalidArgumentError("participants must be 1..100,000,000");
  }
  if (!(options.activity_shape > 1) || options.activity_shape > 10) {
    return absl::InvalidArgumentError("activity shape must be in (1, 10]");
  }
  if (options.history_rate_per_second < 0 || !std::isfinite(options.history_rate_per_second) ||
      options.history_rate_per_second > 1e7) {
    return absl::InvalidArgumentError("history rate must be >= 0 and <= 10,000,000 events/s");
  }
  if (options.areas.empty()) return absl::InvalidArgumentError("no areas");
  absl::flat_hash_set<std::string> names;
  for (const AreaSpec& area : options.areas) {
    if (area.name.empty()) return absl::InvalidArgumentError("empty area name");
    if (!names.insert(area.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate area ", area.name));
    }
    if (!(area.residents > 0) || !std::isfinite(area.residents)) {
      return absl::InvalidArgumentError(
          absl::StrCat("area ", area.name, ": residents must be > 0"));
    }
  }
  for (const Drop& drop : options.drops) {
    if (!drop.area.empty() && !names.contains(drop.area)) {
      return absl::InvalidArgumentError(
          absl::StrCat("drop names unknown area ", drop.area));
    }
    if (!(drop.factor >= 0) || !std::isfinite(drop.factor) || drop.duration_ms <= 0) {
      return absl::InvalidArgumentError("drop needs factor >= 0 and a positive duration");
    }
  }
  std::unique_ptr<TrafficModel> model(new TrafficModel(std::move(options)));
  model->BuildPopulation();
  return model;
}

TrafficModel::TrafficModel(TrafficOptions options)
    : options_(std::move(options)), engine_(options_.seed) {
  for (const Drop& drop : options_.drops) {
    max_drop_factor_ = std::max(max_drop_factor_, drop.factor);
  }
  next_candidate_ms_ = static_cast<double>(options_.start_ms);
  // The start second makes ids of runs with the same seed distinct (the pipeline drops a
  // repeated event_id as a duplicate), while a fixed start reproduces them exactly.
  const int64_t start_s = options_.start_ms / 1000;
  id_prefix_ = absl::StrCat("sim-", options_.seed, "-", start_s, "-");
}

double TrafficModel::Uniform() { return static_cast<double>(NextBits() >> 11) * 0x1.0p-53; }

int TrafficModel::PickWeighted(const std::vector<double>& cumulative) {
  const double target = Uniform() * cumulative.back();
  const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), target);
  return static_cast<int>(std::min<size_t>(it - cumulative.begin(), cumulative.size() - 1));
}

void TrafficModel::BuildPopulation() {
  area_cumulative_.clear();
  double sum = 0;
  for (const AreaSpec& area : options_.areas) {
    sum += area.residents;
    area_cumulative_.push_back(sum);
  }

  const int n = options_.participants;
  // Stratified Pareto quantiles (low variance in the shape of the skew), shuffled onto
  // participants so that activity is independent of the participant number.
  std::vector<double> activity(n);
  for (int i = 0; i < n; ++i) {
    const double u = (i + Uniform()) / n;
    activity[i] = std::pow(1.0 - u, -1.0 / options_.activity_shape);
  }
  for (int i = n - 1; i > 0; --i) {
    const int j = static_cast<int>(NextBits() % static_cast<uint64_t>(i + 1));
    std::swap(activity[i], activity[j]);
  }

  std::vector<double> age_cumulative;
  double age_sum = 0;
  for (const AgeShare& age : kAgeShares) age_cumulative.push_back(age_sum += age.share);
  std::vector<double> kind_cumulative;
  double kind_sum = 0;
  for (double share : kKindShares) kind_cumulative.push_back(kind_sum += share);

  participants_.clear();
  participants_.reserve(n);
  double total = 0;
  for (int i = 0; i < n; ++i) {
    Participant p;
    p.area = static_cast<uint32_t>(PickWeighted(area_cumulative_));
    const AgeShare& age = kAgeShares[PickWeighted(age_cumulative)];
    p.age_band = age.band;
    p.preferred = static_cast<Kind>(PickWeighted(kind_cumulative) + 1);
    p.weight = activity[i] * age.activity;
    total += p.weight;
    participants_.push_back(p);
  }

  // Walker's alias table (Vose's construction): one uniform picks a participant.
  alias_probability_.assign(n, 0);
  alias_.assign(n, 0);
  std::vector<double> scaled(n);
  std::vector<uint32_t> small, large;
  for (int i = 0; i < n; ++i) {
    scaled[i] = participants_[i].weight * n / total;
    (scaled[i] < 1 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    alias_probability_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] -= 1 - scaled[s];
    if (scaled[l] < 1) {
      large.pop_back();
      small.push_back(l);
    }
  }
  for (uint32_t i : large) alias_probability_[i] = 1;
  for (uint32_t i : small) alias_probability_[i] = 1;  // rounding leftovers

  // Advance to the first arrival.
  in_history_ = options_.history_rate_per_second > 0 &&
                options_.start_ms < options_.history_end_ms;
  AdvanceCandidate();
}

int TrafficModel::PickParticipant() {
  const double u = Uniform() * static_cast<double>(participants_.size());
  const auto i = std::min(static_cast<size_t>(u), participants_.size() - 1);
  return static_cast<int>(u - static_cast<double>(i) < alias_probability_[i] ? i : alias_[i]);
}

void TrafficModel::AdvanceCandidate() {
  for (;;) {
    const auto t = static_cast<int64_t>(std::floor(next_candidate_ms_));
    double segment_end = static_cast<double>((FloorDiv(t, kHourMs) + 1) * kHourMs);
    if (in_history_) {
      segment_end = std::min(segment_end, static_cast<double>(options_.history_end_ms));
    }
    const double rate =
        in_history_ ? options_.history_rate_per_second : options_.rate_per_second;
    const double envelope_per_ms =
        rate * Rhythms().hour_max[HourOfWeek(t)] * max_drop_factor_ / 1000.0;
    const double next = next_candidate_ms_ - std::log1p(-Uniform()) / envelope_per_ms;
    if (next < segment_end) {
      next_candidate_ms_ = next;
      return;
    }
    // Poisson arrivals are memoryless: restart at the boundary with the next hour's rate
    // (and, at the end of the history, the live rate).
    next_candidate_ms_ = segment_end;
    if (in_history_ && segment_end >= static_cast<double>(options_.history_end_ms)) {
      in_history_ = false;
    }
  }
}

double TrafficModel::activity_weight(int participant) const {
  return participants_.at(participant).weight;
}

double TrafficModel::DropFactor(uint32_t area, Kind kind, int64_t time_ms) const {
  double factor = 1;
  for (const Drop& drop : options_.drops) {
    if (drop.Covers(options_.areas[area].name, kind, time_ms)) factor *= drop.factor;
  }
  return factor;
}

bool TrafficModel::NextBefore(int64_t now_ms, core::Event* event) {
  static constexpr std::array<double, 3> kKindCumulative = {
      kKindShares[0], kKindShares[0] + kKindShares[1], 1.0};
  while (next_candidate_ms_ <= static_cast<double>(now_ms)) {
    const auto time_ms = static_cast<int64_t>(next_candidate_ms_);
    AdvanceCandidate();

    const int who = PickParticipant();
    const Participant& p = participants_[who];
    Kind kind = p.preferred;
    if (Uniform() >= kPreferredKindProbability) {
      const double u = Uniform();
      kind = u < kKindCumulative[0] ? Kind::kWatchReport
             : u < kKindCumulative[1] ? Kind::kVolunteerShift
                                      : Kind::kRecycling;
    }
    uint32_t area = p.area;
    if (Uniform() >= kHomeAreaProbability) {
      area = static_cast<uint32_t>(PickWeighted(area_cumulative_));
    }
    // Thinning: keep the candidate with probability rate(t) / envelope(t).
    const int hour = HourOfWeek(time_ms);
    double accept = Rhythms().rate[KindIndex(kind)][hour] / Rhythms().hour_max[hour];
    if (!options_.drops.empty()) {
      accept *= DropFactor(area, kind, time_ms) / max_drop_factor_;
    }
    if (Uniform() >= accept) continue;

    ++generated_;
    event->Clear();
    event->event_id.assign(id_prefix_);
    SetNumberSuffix(&event->event_id, id_prefix_.size(), generated_);
    event->participant.assign("p-");
    SetNumberSuffix(&event->participant, 2, who + 1);
    event->area.assign(options_.areas[area].name);
    event->occurred_at_ms = time_ms;
    event->age_band = p.age_band;
    event->source.assign("simulator");
    event->SetKind(kind);
    FillDetails(kind, event);
    return true;
  }
  return false;
}

void TrafficModel::FillDetails(Kind kind, core::Event* event) {
  const std::array<double, 4>& coproduction = kCoproductionShares[KindIndex(kind)];
  double u = Uniform();
  int type = 0;
  while (type < 3 && u >= coproduction[type]) u -= coproduction[type++];
  event->coproduction = static_cast<CoproductionType>(type + 1);

  switch (kind) {
    case Kind::kWatchReport: {
      u = Uniform();
      size_t i = 0;
      while (i + 1 < kWatchCategories.size() && u >= kWatchCategories[i].weight) {
        u -= kWatchCategories[i++].weight;
      }
      event->category.assign(kWatchCategories[i].name);
      // Mostly collective (a scheme's shared watch), some lone street-safety reports.
      event->mode = Uniform() < 0.85 || i + 1 == kWatchCategories.size() ? Mode::kCollective
                                                                         : Mode::kIndividual;
      event->public_body = Uniform() < 0.85;  // police-linked scheme vs residents' own
      break;
    }
    case Kind::kVolunteerShift: {
      u = Uniform();
      size_t i = 0;
      while (i + 1 < kOrganisations.size() && u >= kOrganisations[i].weight) {
        u -= kOrganisations[i++].weight;
      }
      const Organisation& org = kOrganisations[i];
      event->organisation.assign(org.name);
      event->public_body = org.public_body;
      event->sector = org.sector;
      event->mode = Mode::kCollective;
      // 1 to 8 hours in half hours, most shifts two to four hours.
      event->hours = 1.0 + std::round(14.0 * std::pow(Uniform(), 1.8)) / 2.0;
      break;
    }
    case Kind::kRecycling: {
      u = Uniform();
      size_t i = 0;
      while (i + 1 < kMaterials.size() && u >= kMaterials[i].weight) {
        u -= kMaterials[i++].weight;
      }
      const Material& material = kMaterials[i];
      event->material.assign(material.name);
      // Log-normal around the material's typical drop-off, 0.5 to 30 kg, to 100 g.
      const double u1 = 1.0 - Uniform();
      const double u2 = Uniform();
      const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      const double kg = material.typical_kg * std::exp(0.6 * normal);
      event->weight_kg = std::clamp(std::round(kg * 10.0) / 10.0, 0.5, 30.0);
      event->mode = Mode::kIndividual;
      event->public_body = Uniform() < 0.9;  // council scheme vs community swap shop
      break;
    }
  }
}

}  // namespace civicpulse::simulator
