#include "config.h"

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
                  "Without an areas file, the first N areas seen keep their label")
      ->capture_default_str();
  app->add_option("--merge-interval", merge_interval,
                  "How often the indicators are recomputed from the merged aggregates")
      ->capture_default_str();
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
  if (max_areas < 1 || max_areas > 100000) {
    return absl::InvalidArgumentError("--max-areas must be 1..100000");
  }
  if (aggregates_topic.empty()) {
    return absl::InvalidArgumentError("--aggregates-topic must not be empty");
  }
  indicators = {};
  indicators.areas.max_areas = static_cast<size_t>(max_areas);
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
