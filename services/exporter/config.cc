#include "config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "civicpulse/runtime/areas_file.h"
#include "civicpulse/core/status_macros.h"

namespace civicpulse::exporter {

void ExporterConfig::AddFlags(CLI::App* app) {
  runtime::AddCommonFlags(app, &common, kDefaultListen);
  app->add_option("--aggregates-topic", aggregates_topic,
                  "Topic of the partial aggregates published by the aggregators")
      ->capture_default_str();
  app->add_option("--areas-file", areas_file,
                  "CSV area,residents: the allowed area labels (others fold into \"other\") "
                  "and civicpulse_area_residents");
  app->add_option("--max-areas", max_areas,
                  "Without an areas file, at most N area label values: every area while there are "
                  "at most N, else the first N seen in event time (docs/reference.md)")
      ->capture_default_str();
  app->add_option("--merge-interval", merge_interval,
                  "Longest time between two recomputes of the indicators from the merged "
                  "aggregates (sooner when new aggregates arrive: --min-merge-interval)")
      ->capture_default_str();
  app->add_option("--min-merge-interval", min_merge_interval,
                  "New aggregates are merged as soon as the exporter has read all there are, "
                  "but no sooner than this after the previous recompute (at most "
                  "--merge-interval), nor than 4 times that recompute's CPU time")
      ->capture_default_str();
  app->add_option("--baseline-weeks", baseline_weeks,
                  "Previous weeks the seasonal expectation considers (1..8)")
      ->capture_default_str();
  app->add_option("--baseline-min-weeks", baseline_min_weeks,
                  "Usable previous weeks needed before the expectation is exported")
      ->capture_default_str();
  app->add_option("--holidays", holidays,
                  "Holiday dates (YYYY-MM-DD, UTC, comma-separated): weeks that touch one "
                  "are kept out of the seasonal expectation");
  app->add_option("--holidays-file", holidays_file,
                  "File of holiday dates, one YYYY-MM-DD per line ('#' comments)");
}

absl::Status ExporterConfig::Finish() {
  CIVICPULSE_RETURN_IF_ERROR(runtime::FinishCommonFlags(&common));
  if (!absl::ParseDuration(merge_interval, &merge_every)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--merge-interval: \"", merge_interval,
        "\" is not a duration (examples: 500ms, 1s, 1m)"));
  }
  if (merge_every < absl::Milliseconds(10) || merge_every > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--merge-interval must be between 10ms and 10m");
  }
  if (!absl::ParseDuration(min_merge_interval, &merge_at_most_every)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-merge-interval: \"", min_merge_interval,
                     "\" is not a duration (examples: 0s, 100ms, 1s)"));
  }
  if (merge_at_most_every < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--min-merge-interval must not be negative");
  }
  merge_at_most_every = std::min(merge_at_most_every, merge_every);
  if (max_areas < 1 || max_areas > 100000) {
    return absl::InvalidArgumentError("--max-areas must be 1..100000");
  }
  if (aggregates_topic.empty()) {
    return absl::InvalidArgumentError("--aggregates-topic must not be empty");
  }
  if (baseline_weeks < 1 || baseline_weeks > core::kMaxBaselineWeeks) {
    return absl::InvalidArgumentError("--baseline-weeks must be 1..8");
  }
  if (baseline_min_weeks < 1 || baseline_min_weeks > baseline_weeks) {
    return absl::InvalidArgumentError("--baseline-min-weeks must be 1..--baseline-weeks");
  }
  indicators = {};
  indicators.areas.max_areas = static_cast<size_t>(max_areas);
  indicators.baseline.weeks = baseline_weeks;
  indicators.baseline.min_weeks = baseline_min_weeks;
  CIVICPULSE_ASSIGN_OR_RETURN(indicators.baseline.holidays,
                              core::ParseHolidays(holidays, "--holidays"));
  if (!holidays_file.empty()) {
    std::ifstream in(holidays_file);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", holidays_file));
    std::stringstream text;
    text << in.rdbuf();
    CIVICPULSE_ASSIGN_OR_RETURN(std::vector<int64_t> more,
                                core::ParseHolidays(text.str(), holidays_file));
    std::vector<int64_t>& days = indicators.baseline.holidays;
    days.insert(days.end(), more.begin(), more.end());
    std::sort(days.begin(), days.end());
    days.erase(std::unique(days.begin(), days.end()), days.end());
  }
  if (!areas_file.empty()) {
    CIVICPULSE_ASSIGN_OR_RETURN(core::AreaList list, runtime::ReadAreaList(areas_file));
    if (list.areas.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("areas file ", areas_file, " lists no area"));
    }
    indicators.areas.allowed = std::move(list.areas);
    indicators.residents = std::move(list.residents);
  }
  return absl::OkStatus();
}

}  // namespace civicpulse::exporter
