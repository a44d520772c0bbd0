// kafka_ceiling: the end-to-end ceiling for civicpulse-aggregator. A bare librdkafka
// consumer-group member that reads `--count` records of a topic and does nothing with them,
// printing records/s. bench/pipeline_throughput.sh runs it on the same topic as the
// aggregator and prints the ratio.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: kafka_ceiling <brokers> <topic> <count> [group]\n");
    return 2;
  }
  const std::string brokers = argv[1], topic = argv[2];
  const long long count = std::atoll(argv[3]);
  const std::string group = argc > 4 ? argv[4] : "kafka-ceiling";
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_ceiling: %s\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  long long seen = 0, bytes = 0;
  auto start = std::chrono::steady_clock::now();
  bool started = false;
  while (seen < count) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 1000);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (!started) {  // time from the first record: excludes the group join
        start = std::chrono::steady_clock::now();
        started = true;
      }
      ++seen;
      bytes += static_cast<long long>(m->len);
    }
    rd_kafka_message_destroy(m);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("kafka_ceiling records=%lld bytes=%lld seconds=%.3f records_per_second=%.0f\n",
              seen, bytes, seconds, seen / seconds);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
