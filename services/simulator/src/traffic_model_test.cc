#include "civicpulse/simulator/traffic_model.h"

#include <algorithm>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
// Readable failures instead of byte dumps.
void PrintTo(const Event& e, std::ostream* os) {
  *os << e.event_id << "@" << e.occurred_at_ms << "/" << e.area << "/" << KindName(e.kind);
}
}  // namespace civicpulse::core

namespace civicpulse::simulator {
namespace {

using core::Event;
using core::Kind;

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kDay = 24 * kHour;
// Monday 2026-11-16T00:00:00Z.
constexpr int64_t kMonday = 1794787200000;

TrafficOptions Options(double rate, int64_t start_ms = kMonday, uint64_t seed = 7) {
  TrafficOptions options;
  options.seed = seed;
  options.start_ms = start_ms;
  options.rate_per_second = rate;
  options.areas = DefaultAreas(20, seed);
  return options;
}

std::unique_ptr<TrafficModel> Model(TrafficOptions options) {
  absl::StatusOr<std::unique_ptr<TrafficModel>> model = TrafficModel::Create(std::move(options));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

// Every event up to `until_ms`.
std::vector<Event> Generate(TrafficModel& model, int64_t until_ms) {
  std::vector<Event> events;
  Event event;
  while (model.NextBefore(until_ms, &event)) events.push_back(event);
  return events;
}

int HourOfDay(int64_t ms) { return static_cast<int>(ms % kDay / kHour); }
int DayOfWeek(int64_t ms) { return static_cast<int>(((ms / kDay) + 3) % 7); }  // Monday 0

TEST(TrafficModelTest, MondayConstantIsAMonday) {
  EXPECT_EQ(core::FormatRfc3339(kMonday), "2026-11-16T00:00:00Z");
  EXPECT_EQ(DayOfWeek(kMonday), 0);
}

TEST(TrafficModelTest, SameSeedSameEvents) {
  auto a = Model(Options(5));
  auto b = Model(Options(5));
  const std::vector<Event> ea = Generate(*a, kMonday + kDay);
  const std::vector<Event> eb = Generate(*b, kMonday + kDay);
  ASSERT_GT(ea.size(), 1000u);
  EXPECT_EQ(ea, eb);

  auto c = Model(Options(5, kMonday, /*seed=*/8));
  const std::vector<Event> ec = Generate(*c, kMonday + kDay);
  ASSERT_FALSE(ec.empty());
  EXPECT_NE(ea.front().occurred_at_ms, ec.front().occurred_at_ms);
  EXPECT_NE(ea.front().event_id, ec.front().event_id);
}

TEST(TrafficModelTest, SplittingTheCallsDoesNotChangeTheEvents) {
  auto a = Model(Options(2));
  auto b = Model(Options(2));
  const std::vector<Event> whole = Generate(*a, kMonday + kDay);
  std::vector<Event> pieces;
  for (int64_t t = kMonday; t <= kMonday + kDay; t += 7919) {
    for (const Event& e : Generate(*b, t)) pieces.push_back(e);
  }
  for (const Event& e : Generate(*b, kMonday + kDay)) pieces.push_back(e);
  EXPECT_EQ(whole, pieces);
}

TEST(TrafficModelTest, IdsAreUniqueAndStable) {
  auto model = Model(Options(5));
  const std::vector<Event> events = Generate(*model, kMonday + kDay);
  absl::flat_hash_map<std::string, int> seen;
  for (const Event& e : events) EXPECT_EQ(++seen[e.event_id], 1) << e.event_id;
  EXPECT_EQ(events.front().event_id, "sim-7-1794787200-1");
  EXPECT_EQ(events.back().event_id, "sim-7-1794787200-" + std::to_string(events.size()));
  EXPECT_EQ(model->events_generated(), static_cast<int64_t>(events.size()));
}

TEST(TrafficModelTest, EventTimesNeverPassNowAndNeverGoBack) {
  auto model = Model(Options(50));
  Event event;
  int64_t last = 0;
  int count = 0;
  for (int64_t now = kMonday; now < kMonday + 2 * kHour; now += 137) {
    while (model->NextBefore(now, &event)) {
      ASSERT_LE(event.occurred_at_ms, now);
      ASSERT_GE(event.occurred_at_ms, last);
      ASSERT_GE(event.occurred_at_ms, kMonday);
      last = event.occurred_at_ms;
      ++count;
    }
    ASSERT_GT(model->next_candidate_ms(), now);
  }
  EXPECT_GT(count, 1000);
}

TEST(TrafficModelTest, MeanRateOverAWeekIsTheConfiguredRate) {
  auto model = Model(Options(1));
  const std::vector<Event> events = Generate(*model, kMonday + 7 * kDay);
  const double expected = 7 * 86400.0;
  EXPECT_NEAR(events.size() / expected, 1.0, 0.03);
}

TEST(TrafficModelTest, RhythmMultipliersAverageOneOverAWeek) {
  for (Kind kind : {Kind::kWatchReport, Kind::kVolunteerShift, Kind::kRecycling}) {
    double sum = 0;
    for (int h = 0; h < 168; ++h) sum += RhythmMultiplier(kind, kMonday + h * kHour);
    EXPECT_NEAR(sum / 168, 1.0, 1e-9);
    // Evenings beat nights on every day.
    for (int d = 0; d < 7; ++d) {
      const int64_t day = kMonday + d * kDay;
      EXPECT_GT(RhythmMultiplier(kind, day + 19 * kHour),
                3 * RhythmMultiplier(kind, day + 3 * kHour));
    }
    // The hour of the week repeats weekly, and before the epoch too.
    EXPECT_EQ(RhythmMultiplier(kind, kMonday + 5 * kHour),
              RhythmMultiplier(kind, kMonday - 7 * kDay + 5 * kHour));
    EXPECT_EQ(RhythmMultiplier(kind, -1), RhythmMultiplier(kind, 7 * kDay - 1));
  }
}

TEST(TrafficModelTest, GeneratedTrafficHasEveningPeaksAndNightLows) {
  auto model = Model(Options(1));
  std::vector<int> by_hour(24);
  for (const Event& e : Generate(*model, kMonday + 14 * kDay)) ++by_hour[HourOfDay(e.occurred_at_ms)];
  const int evening = by_hour[18] + by_hour[19] + by_hour[20];
  const int night = by_hour[2] + by_hour[3] + by_hour[4];
  const int midday = by_hour[11] + by_hour[12] + by_hour[13];
  EXPECT_GT(evening, 5 * night);
  EXPECT_GT(evening, midday);
}

TEST(TrafficModelTest, WeeklyPatternDiffersByKind) {
  auto model = Model(Options(1));
  // [kind][day of week]
  std::vector<std::vector<int>> counts(3, std::vector<int>(7));
  for (const Event& e : Generate(*model, kMonday + 14 * kDay)) {
    ++counts[static_cast<int>(e.kind) - 1][DayOfWeek(e.occurred_at_ms)];
  }
  const std::vector<int>& watch = counts[0];
  const std::vector<int>& shifts = counts[1];
  const std::vector<int>& recycling = counts[2];
  EXPECT_GT(recycling[5], 1.5 * recycling[1]);  // Saturday drop-offs vs Tuesday
  EXPECT_GT(shifts[1], 1.4 * shifts[6]);        // shifts thin out on Sunday
  EXPECT_GT(watch[5], 1.2 * watch[0]);          // Saturday nights vs Monday
}

TEST(TrafficModelTest, UsualSuspectsDoMostOfTheWork) {
  TrafficOptions options = Options(0.2);
  options.participants = 5000;
  auto model = Model(options);
  absl::flat_hash_map<std::string, int> per_participant;
  int total = 0;
  for (const Event& e : Generate(*model, kMonday + 14 * kDay)) {
    ++per_participant[e.participant];
    ++total;
  }
  ASSERT_GT(total, 200000);
  std::vector<int> counts;
  for (const auto& [who, n] : per_participant) counts.push_back(n);
  counts.resize(5000, 0);  // participants never seen count as zero
  std::sort(counts.rbegin(), counts.rend());
  int top = 0;
  for (int i = 0; i < 500; ++i) top += counts[i];
  const double share = static_cast<double>(top) / total;
  EXPECT_GT(share, 0.40);
  EXPECT_LT(share, 0.75);  // skewed, not a handful of people doing everything
  // Many occasional participants still take part.
  EXPECT_GT(per_participant.size(), 4000u);
}

TEST(TrafficModelTest, DropMultipliesTheRateOfOneAreaAndKind) {
  const int64_t drop_start = kMonday + kDay;
  const int64_t drop_end = drop_start + kDay;
  auto count_in_window = [&](TrafficModel& model, const std::string& area, Kind kind) {
    int n = 0;
    for (const Event& e : Generate(model, drop_end)) {
      if (e.occurred_at_ms >= drop_start && e.area == area && e.kind == kind) ++n;
    }
    return n;
  };
  TrafficOptions plain = Options(3);
  plain.areas = DefaultAreas(5, 7);
  TrafficOptions dropped = plain;
  absl::StatusOr<Drop> drop = ParseDrop("W03:volunteer_shift:now+1d:1d:0.2", kMonday);
  ASSERT_TRUE(drop.ok()) << drop.status();
  dropped.drops.push_back(*drop);

  auto a = Model(plain);
  auto b = Model(dropped);
  const int normal = count_in_window(*a, "W03", Kind::kVolunteerShift);
  const int reduced = count_in_window(*b, "W03", Kind::kVolunteerShift);
  ASSERT_GT(normal, 2000);
  EXPECT_NEAR(static_cast<double>(reduced) / normal, 0.2, 0.04);

  // Other kinds of the area and the same kind elsewhere are untouched.
  auto c = Model(plain);
  auto d = Model(dropped);
  const int watch_normal = count_in_window(*c, "W03", Kind::kWatchReport);
  const int watch_dropped = count_in_window(*d, "W03", Kind::kWatchReport);
  EXPECT_NEAR(static_cast<double>(watch_dropped) / watch_normal, 1.0, 0.08);
}

TEST(TrafficModelTest, HistoryCoversTheSpanAndEndsBeforeNow) {
  const int64_t now = kMonday + 3 * kDay + 12345;
  TrafficOptions options = Options(0.05, now - 28 * kDay);
  options.history_end_ms = now;
  auto model = Model(options);
  const std::vector<Event> events = Generate(*model, now);
  // 28 days at 0.05 events/s: about 121,000 events.
  EXPECT_NEAR(events.size(), 28 * 86400 * 0.05, 28 * 86400 * 0.05 * 0.03);
  ASSERT_FALSE(events.empty());
  EXPECT_LT(events.front().occurred_at_ms - (now - 28 * kDay), kHour);
  EXPECT_LT(now - events.back().occurred_at_ms, kHour);
  EXPECT_LE(events.back().occurred_at_ms, now);
  std::vector<int> per_day(28);
  for (const Event& e : events) ++per_day[(e.occurred_at_ms - (now - 28 * kDay)) / kDay];
  for (int d = 0; d < 28; ++d) EXPECT_GT(per_day[d], 1000) << "day " << d;
}

TEST(TrafficModelTest, HistoryRateAppliesOnlyBeforeTheHistoryEnd) {
  const int64_t end = kMonday + 7 * kDay;
  TrafficOptions options = Options(2, kMonday);
  options.history_end_ms = end;
  options.history_rate_per_second = 0.2;
  auto model = Model(options);
  int before = 0;
  int after = 0;
  for (const Event& e : Generate(*model, end + 7 * kDay)) {
    (e.occurred_at_ms < end ? before : after)++;
  }
  EXPECT_NEAR(before / (7 * 86400.0), 0.2, 0.01);
  EXPECT_NEAR(after / (7 * 86400.0), 2.0, 0.06);
}

TEST(TrafficModelTest, EveryEventPassesValidationAndRoundTripsThroughJson) {
  auto model = Model(Options(5));
  const int64_t now = kMonday + kDay;
  core::EventCodec codec;
  std::string json;
  Event decoded;
  int n = 0;
  for (const Event& e : Generate(*model, now)) {
    ASSERT_TRUE(codec.Validate(e, now).ok()) << e.event_id;
    codec.EncodeJson(e, &json);
    absl::Status status = codec.Decode(json, core::Encoding::kAuto, now, &decoded);
    ASSERT_TRUE(status.ok()) << status << " " << json;
    ASSERT_EQ(decoded.event_id, e.event_id);
    ASSERT_EQ(decoded.kind, e.kind);
    ASSERT_EQ(decoded.area, e.area);
    ASSERT_EQ(decoded.occurred_at_ms, e.occurred_at_ms);
    ASSERT_EQ(decoded.age_band, e.age_band);
    ++n;
  }
  EXPECT_GT(n, 10000);
}

TEST(TrafficModelTest, FieldsAreRealistic) {
  auto model = Model(Options(5));
  int by_kind[3] = {0, 0, 0};
  int watch_collective = 0, shift_public = 0, watch_public = 0, recycling_public = 0;
  int with_age = 0, co_delivery = 0, total = 0;
  absl::flat_hash_map<std::string, int> categories, organisations, materials;
  absl::flat_hash_map<int, int> coproduction;
  for (const Event& e : Generate(*model, kMonday + kDay)) {
    ++total;
    ++by_kind[static_cast<int>(e.kind) - 1];
    with_age += e.age_band != core::AgeBand::kNone;
    ++coproduction[static_cast<int>(e.coproduction)];
    co_delivery += e.coproduction == core::CoproductionType::kCoDelivery;
    EXPECT_EQ(e.source, "simulator");
    EXPECT_THAT(e.participant, testing::StartsWith("p-"));
    switch (e.kind) {
      case Kind::kWatchReport:
        ++categories[e.category];
        watch_collective += e.mode == core::Mode::kCollective;
        watch_public += e.public_body;
        EXPECT_EQ(e.sector, core::Sector::kCommunitySafety);
        break;
      case Kind::kVolunteerShift:
        ++organisations[e.organisation];
        EXPECT_GE(e.hours, 1.0);
        EXPECT_LE(e.hours, 8.0);
        EXPECT_EQ(e.hours * 2, static_cast<int>(e.hours * 2)) << "half hours";
        EXPECT_EQ(e.mode, core::Mode::kCollective);
        shift_public += e.public_body;
        break;
      case Kind::kRecycling:
        ++materials[e.material];
        EXPECT_GE(e.weight_kg, 0.5);
        EXPECT_LE(e.weight_kg, 30.0);
        EXPECT_EQ(e.mode, core::Mode::kIndividual);
        EXPECT_EQ(e.sector, core::Sector::kLocalEnvironment);
        recycling_public += e.public_body;
        break;
    }
  }
  ASSERT_GT(total, 10000);
  for (int k = 0; k < 3; ++k) EXPECT_GT(by_kind[k], total / 8) << "kind " << k + 1;
  EXPECT_GT(watch_collective, 0.75 * by_kind[0]);
  EXPECT_LT(watch_collective, by_kind[0]);
  // Mostly with a public body, with a self-organising share that differs by kind.
  EXPECT_NEAR(static_cast<double>(watch_public) / by_kind[0], 0.85, 0.05);
  EXPECT_NEAR(static_cast<double>(shift_public) / by_kind[1], 0.68, 0.06);
  EXPECT_NEAR(static_cast<double>(recycling_public) / by_kind[2], 0.90, 0.05);
  EXPECT_GT(co_delivery, total / 2);
  EXPECT_EQ(coproduction.size(), 4u);
  EXPECT_GT(with_age, 0.75 * total);
  EXPECT_LT(with_age, total);
  EXPECT_TRUE(categories.contains("suspicious_vehicle"));
  EXPECT_TRUE(organisations.contains("City Hospital"));
  EXPECT_EQ(materials.size(), 5u);
  EXPECT_TRUE(materials.contains("textiles"));
}

TEST(TrafficModelTest, ParticipantsDrawnByResidents) {
  TrafficOptions options = Options(5);
  options.areas = {{"Big", 90000}, {"Small", 10000}};
  auto model = Model(options);
  int big = 0, total = 0;
  for (const Event& e : Generate(*model, kMonday + kDay)) {
    big += e.area == "Big";
    ++total;
  }
  // Heavy-tailed activity makes this noisy; it must still clearly follow the population.
  EXPECT_GT(static_cast<double>(big) / total, 0.75);
}

TEST(TrafficModelTest, CreateRejectsBadOptions) {
  TrafficOptions options = Options(5);
  options.rate_per_second = 0;
  EXPECT_FALSE(TrafficModel::Create(options).ok());
  options = Options(5);
  options.areas.clear();
  EXPECT_FALSE(TrafficModel::Create(options).ok());
  options = Options(5);
  options.areas.push_back(options.areas.front());
  EXPECT_FALSE(TrafficModel::Create(options).ok());
  options = Options(5);
  options.participants = 0;
  EXPECT_FALSE(TrafficModel::Create(options).ok());
  options = Options(5);
  options.drops.push_back({.area = "Nowhere", .duration_ms = 1, .factor = 0.5});
  EXPECT_FALSE(TrafficModel::Create(options).ok());
}

TEST(DefaultAreasTest, NamesAndResidents) {
  std::vector<AreaSpec> areas = DefaultAreas(20, 1);
  ASSERT_EQ(areas.size(), 20u);
  EXPECT_EQ(areas.front().name, "W01");
  EXPECT_EQ(areas.back().name, "W20");
  for (const AreaSpec& a : areas) {
    EXPECT_GE(a.residents, 5000);
    EXPECT_LE(a.residents, 20000);
  }
  EXPECT_EQ(DefaultAreas(150, 1)[0].name, "W001");
  EXPECT_EQ(DefaultAreas(150, 1)[149].name, "W150");
}

TEST(ParseSpanTest, Units) {
  EXPECT_EQ(*ParseSpan("0"), 0);
  EXPECT_EQ(*ParseSpan("90s"), 90000);
  EXPECT_EQ(*ParseSpan("30m"), 30 * 60000);
  EXPECT_EQ(*ParseSpan("28d"), 28 * kDay);
  EXPECT_EQ(*ParseSpan("1h30m"), 90 * 60000);
  EXPECT_EQ(*ParseSpan("2w"), 14 * kDay);
  for (const char* bad : {"", "10", "m", "1x", "-1h", "1.5h", "99999999999d"}) {
    EXPECT_FALSE(ParseSpan(bad).ok()) << bad;
  }
}

TEST(ParseDropTest, RelativeAndAbsolute) {
  absl::StatusOr<Drop> drop = ParseDrop("W03:volunteer_shift:now+10m:30m:0.2", kMonday);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_EQ(drop->area, "W03");
  EXPECT_EQ(drop->kind, Kind::kVolunteerShift);
  EXPECT_EQ(drop->start_ms, kMonday + 10 * 60000);
  EXPECT_EQ(drop->duration_ms, 30 * 60000);
  EXPECT_DOUBLE_EQ(drop->factor, 0.2);
  EXPECT_TRUE(drop->Covers("W03", Kind::kVolunteerShift, kMonday + 10 * 60000));
  EXPECT_FALSE(drop->Covers("W03", Kind::kVolunteerShift, kMonday + 40 * 60000));
  EXPECT_FALSE(drop->Covers("W04", Kind::kVolunteerShift, kMonday + 20 * 60000));
  EXPECT_FALSE(drop->Covers("W03", Kind::kRecycling, kMonday + 20 * 60000));

  drop = ParseDrop("*:*:2026-11-16T01:00:00Z:1h:0", 0);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_EQ(drop->area, "");
  EXPECT_FALSE(drop->kind.has_value());
  EXPECT_EQ(drop->start_ms, kMonday + kHour);
  EXPECT_TRUE(drop->Covers("W99", Kind::kRecycling, kMonday + kHour));

  drop = ParseDrop("W01:recycling:now-1h:2h:0.5", kMonday);
  ASSERT_TRUE(drop.ok());
  EXPECT_EQ(drop->start_ms, kMonday - kHour);

  for (const char* bad : {"W03", "W03:volunteer_shift:now:30m", "W03:bogus:now:30m:0.2",
                          "W03:recycling:later:30m:0.2", "W03:recycling:now:0:0.2",
                          "W03:recycling:now:30m:-1", "W03:recycling:now:30m:x",
                          ":recycling:now:30m:0.5"}) {
    EXPECT_FALSE(ParseDrop(bad, kMonday).ok()) << bad;
  }
}

TEST(ParseAreasCsvTest, ResidentsHeaderAndGaps) {
  absl::StatusOr<std::vector<AreaSpec>> areas =
      ParseAreasCsv("area,residents\n# wards\nW01,12000\n\nW02, 8000 \r\nW03,\nW04\n", "a.csv");
  ASSERT_TRUE(areas.ok()) << areas.status();
  ASSERT_EQ(areas->size(), 4u);
  EXPECT_EQ((*areas)[0].name, "W01");
  EXPECT_EQ((*areas)[1].residents, 8000);
  EXPECT_EQ((*areas)[2].residents, 10000);  // mean of the stated ones
  EXPECT_EQ((*areas)[3].name, "W04");

  EXPECT_FALSE(ParseAreasCsv("", "a.csv").ok());
  EXPECT_FALSE(ParseAreasCsv("W01,1\nW01,2\n", "a.csv").ok());
  EXPECT_FALSE(ParseAreasCsv("all,1\n", "a.csv").ok());
  absl::Status status = ParseAreasCsv("W01,1\nW02,many\n", "a.csv").status();
  EXPECT_THAT(std::string(status.message()), testing::HasSubstr("a.csv:2"));
}

}  // namespace
}  // namespace civicpulse::simulator
