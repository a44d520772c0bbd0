#!/usr/bin/python3
"""The participation exporter an operations team would write in an afternoon: the peer that
bench/pipeline_throughput.sh measures civicpulse-aggregator against (issue 8).

A confluent-kafka consumer-group member reads civicpulse.events.v1 from the earliest offset,
parses each JSON event with the standard library, counts events per (area, kind, minute) and
distinct participants per (area, kind, hour) in dicts of sets, and serves the counts with
prometheus_client, refreshing its gauges once a second. No validation beyond what json.loads
and a few key lookups give, no deduplication, no checkpointing, no late-event handling: far
less work than the aggregator does, which makes it a generous baseline.

    /usr/bin/python3 bench/python_peer.py BROKERS TOPIC COUNT GROUP [IDLE_SECONDS]

Prints one line like bench/kafka_ceiling: python_peer records=... seconds=...
records_per_second=..., timed from its first record (the group join is excluded). Debian's
python3-confluent-kafka and python3-prometheus-client (installed for /usr/bin/python3).
"""
import collections
import json
import sys
import time

from confluent_kafka import Consumer
from prometheus_client import Gauge, start_http_server


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: python_peer.py BROKERS TOPIC COUNT GROUP [IDLE_SECONDS]")
    brokers, topic, count, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    idle = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    events = Gauge("peer_events", "Events per area and kind in the last hour", ["area", "kind"])
    people = Gauge("peer_participants", "Distinct participants per area and kind, this hour",
                   ["area", "kind"])
    start_http_server(0, addr="127.0.0.1")

    per_minute = collections.defaultdict(int)  # (area, kind, minute) -> events
    per_hour = collections.defaultdict(set)    # (area, kind, hour) -> participants
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    consumer.subscribe([topic])
    seen = bad = 0
    first = last_record = None
    last_export = time.time()
    try:
        while seen < count:
            messages = consumer.consume(num_messages=10000, timeout=0.5)
            now = time.time()
            if not messages:
                if last_record is not None and now - last_record > idle:
                    break
                if first is None and now - last_export > idle * 4:
                    break
                continue
            if first is None:
                first = now
            last_record = now
            for m in messages:
                if m.error():
                    continue
                seen += 1
                try:
                    e = json.loads(m.value())
                    area, kind = e["area"], e["kind"]
                    stamp = e["occurred_at"]  # ISO 8601; minute and hour by prefix
                    per_minute[(area, kind, stamp[:16])] += 1
                    per_hour[(area, kind, stamp[:13])].add(e["participant"])
                except (ValueError, KeyError, TypeError):
                    bad += 1
            last_record = time.time()  # processed up to here
            if now - last_export >= 1.0:
                last_export = now
                totals = collections.defaultdict(int)
                for (area, kind, _), n in per_minute.items():
                    totals[(area, kind)] += n
                for (area, kind), n in totals.items():
                    events.labels(area, kind).set(n)
                for (area, kind, _), s in per_hour.items():
                    people.labels(area, kind).set(len(s))
    finally:
        consumer.close()
    end = last_record or time.time()
    seconds = end - first if first else 0.0
    rate = seen / seconds if seconds > 0 else 0.0
    print("python_peer records=%d bad=%d seconds=%.3f records_per_second=%.0f"
          % (seen, bad, seconds, rate))
    if seen < count:
        print("python_peer: only %d of %d records arrived" % (seen, count), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
