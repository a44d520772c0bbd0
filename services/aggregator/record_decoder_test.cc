// RecordDecoder: a batch decoded on the helper thread is, record by record, what the codec
// decodes inline, whatever the batch's size and mix, and batches follow each other safely
// (this test also runs under ThreadSanitizer: make tsan).
#include "record_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace civicpulse::aggregator {
namespace {

constexpr int64_t kNowMs = 1'780'000'000'000;

// A mix of valid JSON, valid protobuf and rejected values.
std::vector<std::string> MakeValues(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  core::EventCodec codec;
  std::vector<std::string> values;
  values.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    core::Event e;
    e.event_id = absl::StrCat("e-", seed, "-", i);
    e.SetKind(core::Kind::kWatchReport);
    e.participant = absl::StrCat("p-", rng() % 1000);
    e.area = absl::StrCat("W", rng() % 50);
    e.occurred_at_ms = kNowMs - static_cast<int64_t>(rng() % 3'600'000);
    e.source = "test";
    std::string value;
    switch (rng() % 5) {
      case 0:
        codec.EncodeProtobuf(e, &value);
        break;
      case 1:
        value = "{\"event_id\":\"broken";  // invalid JSON
        break;
      case 2:
        codec.EncodeJson(e, &value);
        value.replace(value.find("watch_report"), 12, "astrology");  // unknown kind
        break;
      default:
        codec.EncodeJson(e, &value);
    }
    values.push_back(std::move(value));
  }
  return values;
}

std::vector<kafka::ConsumerRecord> Records(const std::vector<std::string>& values) {
  std::vector<kafka::ConsumerRecord> batch;
  for (size_t i = 0; i < values.size(); ++i) {
    batch.push_back({.topic = "events",
                     .partition = static_cast<int32_t>(i % 4),
                     .offset = static_cast<int64_t>(i),
                     .value = values[i]});
  }
  return batch;
}

void ExpectSameAsInline(RecordDecoder* decoder, const std::vector<std::string>& values) {
  const std::vector<kafka::ConsumerRecord> batch = Records(values);
  core::EventCodec codec;
  core::Event expected;
  decoder->Start(batch, kNowMs);
  // Also when an assertion returns early: the helper may still be reading `batch`.
  absl::Cleanup finish = [decoder] { decoder->Finish(); };
  for (size_t i = 0; i < batch.size(); ++i) {
    const absl::Status status = codec.Decode(values[i], core::Encoding::kAuto, kNowMs, &expected);
    const RecordDecoder::Decoded& got = decoder->Get(i);
    ASSERT_EQ(got.status, status) << "record " << i;
    if (status.ok()) {
      EXPECT_EQ(got.event, expected) << "record " << i;
    }
  }
}

TEST(RecordDecoderTest, EveryRecordIsWhatTheCodecDecodesInlineWhateverTheBatchSize) {
  for (int threads : {0, 1}) {
    RecordDecoder decoder(threads);
    uint64_t seed = 1;
    const std::vector<size_t> sizes = {0,
                                       1,
                                       7,
                                       RecordDecoder::kMinParallel - 1,
                                       RecordDecoder::kMinParallel,
                                       RecordDecoder::kMinParallel + RecordDecoder::kChunk + 3,
                                       5000,
                                       300,
                                       10000,
                                       2};
    for (size_t size : sizes) {
      SCOPED_TRACE(absl::StrCat("threads ", threads, ", batch of ", size));
      ExpectSameAsInline(&decoder, MakeValues(size, seed++));
    }
    if (threads == 0) {
      EXPECT_EQ(decoder.decoded_in_parallel(), 0u);
    } else {
      // The five batches of kMinParallel records or more went to the helper thread.
      EXPECT_EQ(decoder.decoded_in_parallel(),
                RecordDecoder::kMinParallel +
                    (RecordDecoder::kMinParallel + RecordDecoder::kChunk + 3) + 5000 + 300 + 10000);
    }
  }
}

TEST(RecordDecoderTest, ABatchFinishedWithoutReadingItAllLeavesTheNextOneIntact) {
  RecordDecoder decoder(1);
  const std::vector<std::string> first = MakeValues(4000, 7);
  const std::vector<kafka::ConsumerRecord> batch = Records(first);
  decoder.Start(batch, kNowMs);
  core::EventCodec codec;
  core::Event expected;
  EXPECT_EQ(decoder.Get(0).status,
            codec.Decode(first[0], core::Encoding::kAuto, kNowMs, &expected));
  decoder.Finish();  // waits for the helper before `first` may go
  ExpectSameAsInline(&decoder, MakeValues(3000, 8));
}

TEST(RecordDecoderTest, ManyBatchesInARowAgreeWithInlineDecoding) {
  // Alternating sizes around the threshold exercise the handover over and over.
  RecordDecoder decoder(1);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 200; ++round) {
    ExpectSameAsInline(&decoder, MakeValues(RecordDecoder::kMinParallel / 2 + rng() % 600,
                                            100 + static_cast<uint64_t>(round)));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace civicpulse::aggregator
