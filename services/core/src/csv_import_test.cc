#include "civicpulse/core/csv_import.h"

#include <string>
#include <vector>

#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'900'000'000'000;  // 2030

std::vector<CsvRow> ReadAll(std::string_view text) {
  CsvReader reader(text);
  std::vector<CsvRow> rows;
  CsvRow row;
  while (reader.Next(&row)) rows.push_back(row);
  return rows;
}

TEST(CsvReaderTest, Rfc4180QuotingLineBreaksAndBlankLines) {
  const std::vector<CsvRow> rows = ReadAll(
      "\xEF\xBB\xBF"
      "a,b,c\r\n"
      "1,\"x, \"\"y\"\"\",\"multi\nline\"\r\n"
      "\n"
      ",,\n"
      "last,row,\"\"");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_THAT(rows[0].cells, ElementsAre("a", "b", "c"));
  EXPECT_THAT(rows[1].cells, ElementsAre("1", "x, \"y\"", "multi\nline"));
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[1].text, "1,\"x, \"\"y\"\"\",\"multi\nline\"");
  EXPECT_EQ(rows[2].line, 5);
  EXPECT_THAT(rows[2].cells, ElementsAre("", "", ""));
  EXPECT_EQ(rows[3].line, 6);
  EXPECT_THAT(rows[3].cells, ElementsAre("last", "row", ""));
  for (const CsvRow& row : rows) EXPECT_EQ(row.malformed_column, 0) << row.line;
}

TEST(CsvReaderTest, MalformedRowsAreReadToTheirEndAndNameTheColumn) {
  const std::vector<CsvRow> rows =
      ReadAll("a,b\"c,d\n\"x\"y,z\nok,1\n\"open,2\n");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].malformed_column, 2);
  EXPECT_THAT(rows[0].malformed_detail,
              HasSubstr("quote inside an unquoted field"));
  EXPECT_EQ(rows[1].malformed_column, 1);
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].malformed_column, 0);
  EXPECT_THAT(rows[2].cells, ElementsAre("ok", "1"));
  EXPECT_EQ(rows[3].malformed_column, 1);
  EXPECT_THAT(rows[3].malformed_detail, HasSubstr("not closed"));
}

TEST(CsvReaderTest, FormatRowQuotesWhatNeedsIt) {
  EXPECT_EQ(FormatCsvRow({"a", "b,c", "say \"hi\"", "x\ny", ""}),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\",");
  const std::vector<CsvRow> rows =
      ReadAll(FormatCsvRow({"a", "b,c", "say \"hi\"", "x\ny"}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].cells, ElementsAre("a", "b,c", "say \"hi\"", "x\ny"));
}

struct Decoded {
  int line;
  int column;
  absl::Status status;
  Event event;
};

std::vector<Decoded> Import(std::string_view text, Kind kind,
                            absl::Status* start_status) {
  std::vector<Decoded> out;
  absl::StatusOr<CsvImport> import =
      CsvImport::Start(text, {.kind = kind, .max_rows = 10});
  *start_status = import.status();
  if (!import.ok()) return out;
  CsvRow row;
  Decoded d;
  while (import->Next(&row, &d.event, &d.status, &d.column)) {
    d.line = row.line;
    out.push_back(d);
  }
  return out;
}

TEST(CsvImportTest, RecyclingRowsBecomeEvents) {
  absl::Status start;
  const std::vector<Decoded> rows = Import(
      " Participant ,AREA,occurred_at,weight_kg,material,Notes,event_id\n"
      "p-1,W01,2026-11-22T11:30:00Z,4.2,glass,\"first, visit\",rc-1\n"
      "p-2,W02,2026-11-22 12:00,0.5,paper,,\n",
      Kind::kRecycling, &start);
  ASSERT_TRUE(start.ok()) << start;
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(rows[0].status.ok()) << rows[0].status;
  const Event& e = rows[0].event;
  EXPECT_EQ(e.kind, Kind::kRecycling);
  EXPECT_EQ(e.event_id, "rc-1");
  EXPECT_EQ(e.participant, "p-1");
  EXPECT_TRUE(e.has_participant);
  EXPECT_EQ(e.area, "W01");
  EXPECT_EQ(FormatRfc3339(e.occurred_at_ms), "2026-11-22T11:30:00Z");
  EXPECT_DOUBLE_EQ(e.weight_kg, 4.2);
  EXPECT_EQ(e.material, "glass");
  EXPECT_EQ(e.mode, Mode::kIndividual);
  EXPECT_EQ(e.sector, DefaultSector(Kind::kRecycling));
  ASSERT_TRUE(rows[1].status.ok()) << rows[1].status;
  EXPECT_EQ(rows[1].event.event_id, "");  // derived by the caller
  EXPECT_EQ(FormatRfc3339(rows[1].event.occurred_at_ms),
            "2026-11-22T12:00:00Z");
  EXPECT_EQ(rows[1].line, 3);
  EventCodec codec;
  EXPECT_TRUE(codec.Validate(rows[0].event, kNow).ok());
}

TEST(CsvImportTest, VolunteerShiftsWithOptionalColumns) {
  absl::Status start;
  const std::vector<Decoded> rows = Import(
      "participant,area,occurred_at,hours,organisation,public_body,mode,"
      "coproduction,age_band,"
      "kind\n"
      "v-1,W03,2026-11-22T09:00:00+01:00,3.5,City "
      "Hospital,no,individual,co_design,65-74,"
      "volunteer_shift\n",
      Kind::kVolunteerShift, &start);
  ASSERT_TRUE(start.ok()) << start;
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(rows[0].status.ok()) << rows[0].status;
  const Event& e = rows[0].event;
  EXPECT_DOUBLE_EQ(e.hours, 3.5);
  EXPECT_EQ(e.organisation, "City Hospital");
  EXPECT_FALSE(e.public_body);
  EXPECT_EQ(e.mode, Mode::kIndividual);
  EXPECT_EQ(e.coproduction, CoproductionType::kCoDesign);
  EXPECT_EQ(e.age_band, AgeBand::k65To74);
  EXPECT_EQ(FormatRfc3339(e.occurred_at_ms), "2026-11-22T08:00:00Z");
}

TEST(CsvImportTest, BadRowsNameLineAndColumn) {
  absl::Status start;
  const std::vector<Decoded> rows = Import(
      "participant,area,occurred_at,hours,sector\n"
      "v-1,W01,2026-11-22T09:00:00Z,25,\n"        // line 2: hours out of range
      "v-secret,W01,2026-11-22T09:00:00Z,two,\n"  // line 3: hours not a number
      "v-3,,2026-11-22T09:00:00Z,1,\n"            // line 4: area empty
      "v-4,W01,yesterday,1,\n"                    // line 5: occurred_at
      "v-5,W01,2026-11-22T09:00:00Z,1\n"          // line 6: 4 fields
      "v-6,W\"01,2026-11-22T09:00:00Z,1,\n"       // line 7: stray quote
      ",W01,2026-11-22T09:00:00Z,1,\n"            // line 8: participant empty
      "v-8,W01,2026-11-22T09:00:00Z,1,health\n"   // line 9: sector
      "v-9,W01,2026-11-22T09:00:00Z,1,public_health\n",  // line 10: fine
      Kind::kVolunteerShift, &start);
  ASSERT_TRUE(start.ok()) << start;
  ASSERT_EQ(rows.size(), 9u);
  struct Want {
    int line, column;
    std::string_view reason;
    const char* field;
  };
  const std::vector<Want> want = {
      {2, 4, kReasonOutOfRange, "hours"},
      {3, 4, kReasonWrongType, "hours"},
      {4, 2, kReasonMissingField, "area"},
      {5, 3, kReasonInvalidTimestamp, "occurred_at"},
      {6, 0, kReasonInvalidCsv, ""},
      {7, 2, kReasonInvalidCsv, ""},
      {8, 1, kReasonMissingField, "participant"},
      {9, 5, kReasonInvalidValue, "sector"}};
  for (size_t i = 0; i < want.size(); ++i) {
    const Rejection r = RejectionOf(rows[i].status);
    EXPECT_EQ(rows[i].line, want[i].line);
    EXPECT_EQ(rows[i].column, want[i].column) << "line " << want[i].line;
    EXPECT_EQ(r.reason, want[i].reason)
        << "line " << want[i].line << ": " << r.detail;
    EXPECT_EQ(r.field, want[i].field) << "line " << want[i].line;
    EXPECT_THAT(r.detail, HasSubstr("line " + std::to_string(want[i].line)));
    EXPECT_THAT(r.detail, Not(HasSubstr("secret")));
  }
  EXPECT_TRUE(rows[8].status.ok()) << rows[8].status;
}

TEST(CsvImportTest, UnusableHeadersRejectTheWholeText) {
  absl::Status start;
  Import("", Kind::kRecycling, &start);
  EXPECT_EQ(start.code(), absl::StatusCode::kInvalidArgument);
  Import("participant,area,occurred_at\np,W,2026-01-01T00:00:00Z\n",
         Kind::kRecycling, &start);
  EXPECT_EQ(start.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(start.message(), HasSubstr("missing column weight_kg"));
  Import("participant,area,area,occurred_at,hours\n", Kind::kVolunteerShift,
         &start);
  EXPECT_THAT(start.message(), HasSubstr("appears twice"));
  Import("participant,\"area,occurred_at,hours\n", Kind::kVolunteerShift,
         &start);
  EXPECT_EQ(start.code(), absl::StatusCode::kInvalidArgument);
  std::string many = "participant,area,occurred_at,hours\n";
  for (int i = 0; i < 11; ++i) many += "p,W,2026-01-01T00:00:00Z,1\n";
  Import(many, Kind::kVolunteerShift, &start);
  EXPECT_EQ(start.code(), absl::StatusCode::kResourceExhausted);
}

TEST(CsvImportTest, KindColumnMustMatchTheImport) {
  absl::Status start;
  const std::vector<Decoded> rows = Import(
      "kind,participant,area,occurred_at,weight_kg\nvolunteer_shift,p,W,2026-"
      "01-01T00:00:00Z,1\n",
      Kind::kRecycling, &start);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(RejectionOf(rows[0].status).field, "kind");
  EXPECT_EQ(rows[0].column, 1);
}

}  // namespace
}  // namespace civicpulse::core
