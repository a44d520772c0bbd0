// kafka_ceiling: the end-to-end ceiling for civicpulse-aggregator. A bare librdkafka
// consumer-group member that reads `--count` records of a topic and does nothing with them,
// printing records/s and its CPU seconds (what consuming alone costs).
// bench/pipeline_throughput.sh runs it on the same topic as the aggregator and prints the
// ratio. It gives up (exit 1, printing what it saw) when no record arrives for
// `idle-seconds` (default 30), e.g. when retention dropped some of the records.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: kafka_ceiling <brokers> <topic> <count> [group] [idle-seconds]\n");
    return 2;
  }
  const std::string brokers = argv[1], topic = argv[2];
  const long long count = std::atoll(argv[3]);
  const std::string group = argc > 4 ? argv[4] : "kafka-ceiling";
  const double idle_seconds = argc > 5 ? std::atof(argv[5]) : 30.0;
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
  auto last_record = start;
  bool started = false;
  bool gave_up = false;
  while (seen < count) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 1000);
    if (m == nullptr) {
      const std::chrono::duration<double> idle = std::chrono::steady_clock::now() - last_record;
      if (idle.count() > idle_seconds) {
        gave_up = true;
        break;
      }
      continue;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      last_record = std::chrono::steady_clock::now();
      if (!started) {  // time from the first record: excludes the group join
        start = std::chrono::steady_clock::now();
        started = true;
      }
      ++seen;
      bytes += static_cast<long long>(m->len);
    }
    rd_kafka_message_destroy(m);
  }
  const double seconds = std::chrono::duration<double>(last_record - start).count();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  // The whole process's CPU (librdkafka's threads too; the group join costs ~0.02 s): what
  // consuming the records costs, however long the fetcher left it waiting.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto to_seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  std::printf(
      "kafka_ceiling records=%lld bytes=%lld seconds=%.3f records_per_second=%.0f cpu_s=%.3f\n",
      seen, bytes, seconds, seen / seconds,
      to_seconds(usage.ru_utime) + to_seconds(usage.ru_stime));
  if (gave_up) {
    std::fprintf(stderr, "kafka_ceiling: only %lld of %lld records arrived (none for %.0f s)\n",
                 seen, count, idle_seconds);
    return 1;
  }
  return 0;
}
