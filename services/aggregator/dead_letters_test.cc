// DeadLetterQueue with a producer that fails like Kafka: the 1.2 MB record of issue 10 is
// cut to fit and kept until a flush succeeds.
#include "dead_letters.h"

#include <string>
#include <vector>

#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {
namespace {

// Records what is produced; refuses records over `max_bytes` as Kafka does.
class SizeLimitedProducer : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::ProducerRecord& r) override {
    size_t bytes = r.key.size() + r.value.size();
    for (const auto& [k, v] : r.headers) bytes += k.size() + v.size();
    if (bytes > max_bytes) return absl::ResourceExhaustedError("message too large");
    values.emplace_back(r.value);
    headers.push_back(r.headers);
    return absl::OkStatus();
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }
  absl::Status ProduceAndWait(const std::vector<kafka::ProducerRecord>&,
                              absl::Duration) override {
    return absl::UnimplementedError("not used");
  }
  void Poll() override {}
  absl::StatusOr<int> PartitionCount(std::string_view, absl::Duration) override { return 1; }

  size_t max_bytes = 1000 * 1000;
  std::vector<std::string> values;
  std::vector<kafka::Headers> headers;
};

std::string HeaderOf(const kafka::Headers& headers, const std::string& name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(DeadLetterQueueTest, A12MegabyteRecordIsCutToFitAndKeptUntilAcknowledged) {
  prometheus::Registry registry;
  AggregatorMetrics metrics(registry);
  DeadLetterQueue queue("dlq", 1000 * 1000, &metrics);
  const std::string value = "{\"category\":\"" + std::string(1200 * 1024, 'x') + "\"}";
  kafka::ConsumerRecord record{.topic = "events", .key = "W01", .value = value};
  queue.Add(record, core::RejectionError(core::kReasonTooLarge, "", "value too large"));

  SizeLimitedProducer producer;
  ASSERT_TRUE(queue.Produce(&producer).ok());
  ASSERT_EQ(producer.values.size(), 1u);
  EXPECT_LT(producer.values[0].size(), 1000u * 1000);
  EXPECT_EQ(HeaderOf(producer.headers[0], "truncated"), "true");
  EXPECT_EQ(HeaderOf(producer.headers[0], "original-size"), std::to_string(value.size()));
  EXPECT_EQ(HeaderOf(producer.headers[0], "original-sha256").size(), 64u);
  EXPECT_EQ(HeaderOf(producer.headers[0], "error"), "too_large");

  // A failed flush: still pending, sent again; only an acknowledgement forgets it.
  queue.Retry();
  EXPECT_EQ(queue.pending(), 1u);
  ASSERT_TRUE(queue.Produce(&producer).ok());
  EXPECT_EQ(producer.values.size(), 2u);
  queue.Acknowledge();
  EXPECT_EQ(queue.pending(), 0u);
}

}  // namespace
}  // namespace civicpulse::aggregator
