#!/usr/bin/python3
"""Freshness: how long an event takes from produce to visible in the exporter's /metrics, at a
sustained rate, through the real binaries (issue 8, target 5).

An embedded broker (PARTITIONS partitions), one civicpulse-aggregator and one
civicpulse-exporter with their default intervals (or --flush-interval / --merge-interval).
A confluent-kafka producer writes RATE JSON events per second for DURATION seconds (current
event time, AREAS areas, keyed by area) and records when each thousandth event was handed to
Kafka and acknowledged; a scraper reads /metrics every SCRAPE seconds and records when the sum
of civicpulse_events_total (per area and kind) first reached each count. The freshness of
event k is (first scrape showing >= k events) - (acknowledgement of event k): an upper bound,
since it includes up to one scrape interval, as a Prometheus scrape would.

    /usr/bin/python3 bench/freshness.py --bin-dir build/bin [--rate 50000 --duration 60]

Prints the distribution (p50, p90, p99, max) from the acknowledgement and from the produce
call, whether the producer kept the rate, and how long its final flush took (a queue in front
of the broker); --timeline adds, second by second, the events handed over, acknowledged,
consumed by the aggregator and visible.
Debian's python3-confluent-kafka (installed for /usr/bin/python3).
"""
import argparse
import bisect
import datetime
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from stack import Stack, free_port, parse_metrics, sample, scrape  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

TOPIC = "civicpulse.events.v1"


def family_sum(port, family, keep=lambda labels: True):
    """(when /metrics was read, the samples of `family` whose labels `keep` accepts, summed);
    None if unreachable. The time is taken before parsing, and only the lines of that family
    are parsed: the Python parse of a large /metrics is not the pipeline's latency, and a slow
    parse would stretch the time between two reads (and so the latency measured)."""
    try:
        text = scrape(port)
    except OSError:
        return None
    read_at = time.time()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(family + "{"):
            continue
        labels, _, value = line.rpartition(" ")
        if keep(labels):
            total += float(value)
    return read_at, total


def events_total(port):
    """civicpulse_events_total over the (area, kind) series, as family_sum."""
    return family_sum(port, "civicpulse_events_total",
                      lambda labels: 'area="all"' not in labels and 'kind="all"' not in labels)


def checkpoint_bytes(port):
    """civicpulse_aggregator_checkpoint_bytes_total by log (aggregates, changelog)."""
    out = {"aggregates": 0.0, "changelog": 0.0}
    try:
        samples = parse_metrics(scrape(port))
    except OSError:
        return out
    for (name, labels), v in samples.items():
        if name == "civicpulse_aggregator_checkpoint_bytes_total":
            log = dict(labels).get("log")
            if log in out:
                out[log] += v
    return out


def mean_durations(port, name, label):
    """{label value: (count, mean seconds)} of histogram `name` (by `label`; "" without)."""
    try:
        samples = parse_metrics(scrape(port))
    except OSError:
        return {}
    sums, counts = {}, {}
    for (sample_name, labels), v in samples.items():
        key = dict(labels).get(label, "")
        if sample_name == name + "_sum":
            sums[key] = v
        elif sample_name == name + "_count":
            counts[key] = v
    return {k: (counts[k], sums.get(k, 0.0) / counts[k]) for k in counts if counts[k] > 0}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build/bin")
    ap.add_argument("--rate", type=int, default=50000)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--areas", type=int, default=200)
    ap.add_argument("--scrape", type=float, default=0.1)
    ap.add_argument("--flush-interval", default=None)
    ap.add_argument("--merge-interval", default=None)
    ap.add_argument("--checkpoint-interval", default=None)
    ap.add_argument("--timeline", action="store_true",
                    help="print, second by second, the events handed over, acknowledged, "
                         "consumed by the aggregator and visible")
    args = ap.parse_args()

    stack = Stack(args.bin_dir, partitions=args.partitions)
    try:
        stack.start_broker()
        agg_port, exp_port = free_port(), free_port()
        agg_args = ["--brokers", stack.brokers, "--listen", "127.0.0.1:%d" % agg_port,
                    "--max-areas", str(args.areas + 10)]
        if args.flush_interval:
            agg_args += ["--flush-interval", args.flush_interval]
        if args.checkpoint_interval:
            agg_args += ["--checkpoint-interval", args.checkpoint_interval]
        exp_args = ["--brokers", stack.brokers, "--listen", "127.0.0.1:%d" % exp_port,
                    "--max-areas", str(args.areas + 10)]
        if args.merge_interval:
            exp_args += ["--merge-interval", args.merge_interval]
        stack.start("aggregator", "civicpulse-aggregator", agg_args)
        stack.start("exporter", "civicpulse-exporter", exp_args)

        producer = Producer({"bootstrap.servers": stack.brokers, "linger.ms": 5,
                             "queue.buffering.max.messages": 1000000})
        # Warm-up: one event, until the exporter shows it (group join, topic creation).
        acked = []  # (ack time, cumulative count) every STEP events
        step = 1000
        count = [0]

        def on_ack(err, _msg):
            if err is None:
                count[0] += 1
                if count[0] % step == 0:
                    acked.append((time.time(), count[0]))

        rng = random.Random(1)
        areas = ["W%03d" % i for i in range(args.areas)]
        # The event's text is formatted from templates, with occurred_at read once per tick
        # of the loop below (2 ms): json.dumps and strftime for every event held the producer
        # under the rate on a 2-core machine, and the events it could not hand over in time
        # were counted as the pipeline's latency.
        templates = [
            ('{"event_id":"f-%d","kind":"watch_report","participant":"p-%06d","area":"%s",'
             '"occurred_at":"%s"}'),
            ('{"event_id":"f-%d","kind":"volunteer_shift","participant":"p-%06d","area":"%s",'
             '"occurred_at":"%s","hours":2}'),
            ('{"event_id":"f-%d","kind":"recycling","participant":"p-%06d","area":"%s",'
             '"occurred_at":"%s","weight_kg":1.5}'),
        ]

        def now_rfc3339():
            return (datetime.datetime.now(datetime.timezone.utc)
                    .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")

        def event(i, occurred_at):
            area = areas[rng.randrange(len(areas))]
            return area, templates[i % 3] % (i, rng.randrange(200000), area, occurred_at)

        producer.produce(TOPIC, key=b"W000", value=event(0, now_rfc3339())[1].encode(),
                         on_delivery=on_ack)
        producer.flush(30)
        deadline = time.time() + 120
        def visible():
            v = events_total(exp_port)
            return 0 if v is None else v[1]

        while visible() < 1 and time.time() < deadline:
            time.sleep(0.2)
        if visible() < 1:
            print("the exporter never showed the warm-up event", file=sys.stderr)
            print(stack.logs(), file=sys.stderr)
            return 1
        base = 1
        count[0] = 0
        acked.clear()

        seen = []  # (scrape time, events counted beyond the warm-up)
        stop = threading.Event()

        def scraper():
            while not stop.is_set():
                v = events_total(exp_port)
                if v is not None:
                    seen.append((v[0], v[1] - base))
                time.sleep(args.scrape)

        t = threading.Thread(target=scraper, daemon=True)
        t.start()
        applied = []  # (read time, the aggregator's records by every outcome), --timeline only

        def aggregator_scraper():
            while not stop.is_set():
                v = family_sum(agg_port, "civicpulse_aggregator_events_total")
                if v is not None:
                    applied.append(v)
                time.sleep(args.scrape)

        if args.timeline:
            t2 = threading.Thread(target=aggregator_scraper, daemon=True)
            t2.start()
        bytes_before = checkpoint_bytes(agg_port)
        start = time.time()
        produced = 0
        handed = []  # (time of the produce call, events handed over) every STEP events
        while True:
            now = time.time()
            if now - start >= args.duration:
                break
            due = int((now - start) * args.rate)
            occurred_at = now_rfc3339()
            while produced < due:
                area, value = event(produced + 1, occurred_at)
                try:
                    producer.produce(TOPIC, key=area.encode(), value=value.encode(),
                                     on_delivery=on_ack)
                except BufferError:
                    producer.poll(0.01)
                    continue
                produced += 1
                if produced % step == 0:
                    handed.append((time.time(), produced))
                    # Serve the delivery reports while catching up, so that an
                    # acknowledgement is timed when it arrives and not at the end of a burst.
                    producer.poll(0)
            producer.poll(0)
            time.sleep(0.002)
        loop_end = time.time()
        producer.flush(60)
        elapsed = time.time() - start
        achieved = produced / elapsed
        wait_until = time.time() + 60
        while (not seen or seen[-1][1] < produced) and time.time() < wait_until:
            time.sleep(0.2)
        stop.set()
        t.join()
        if args.timeline:
            t2.join()
        # What the aggregator wrote to its two logs while the rate was held (issue 7, item 6).
        bytes_after = checkpoint_bytes(agg_port)
        written = {k: (bytes_after[k] - bytes_before[k]) / elapsed for k in bytes_after}

        times = [s[0] for s in seen]
        counts = [s[1] for s in seen]
        # First scrape whose count reached k (counts only grow; take a running max).
        running = []
        best = -1
        for c in counts:
            best = max(best, c)
            running.append(best)

        def latencies(marks):
            """[(latency, seconds into the run)] of each (time, count) mark that became
            visible: the first scrape whose count reached it, less the mark's time."""
            out = []
            for mark_time, k in marks:
                i = bisect.bisect_left(running, k)
                if i < len(times):
                    out.append((times[i] - mark_time, mark_time - start))
            return out

        slow = latencies(acked)
        lat = [x[0] for x in slow]
        from_call = [x[0] for x in latencies(handed)]
        missing = len(acked) - len(lat)
        if not lat:
            print("no event became visible", file=sys.stderr)
            return 1
        print("freshness rate=%d achieved=%.0f duration=%.0fs events=%d samples=%d "
              "not_visible=%d p50=%.2fs p90=%.2fs p99=%.2fs max=%.2fs flush=%.1fs "
              "changelog_bytes_per_s=%.0f aggregates_bytes_per_s=%.0f load=%s" % (
                  args.rate, achieved, args.duration, produced, len(lat), missing,
                  percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), max(lat),
                  start + elapsed - loop_end, written["changelog"], written["aggregates"],
                  open("/proc/loadavg").read().split()[0]))
        # The same from the produce call: adds the producer's batching (linger.ms) and any
        # queue in front of the broker.
        if from_call:
            print("from the produce call: p50=%.2fs p90=%.2fs p99=%.2fs max=%.2fs" % (
                percentile(from_call, 0.5), percentile(from_call, 0.9),
                percentile(from_call, 0.99), max(from_call)))
        if args.timeline:
            def at(marks, t):
                i = bisect.bisect_right([m[0] for m in marks], t)
                return int(marks[i - 1][1]) if i else 0
            base_applied = applied[0][1] if applied else 0
            applied = [(a, c - base_applied) for a, c in applied]
            print("second handed acknowledged consumed visible")
            for sec in range(int(elapsed) + 2):
                t = start + sec
                print("%d %d %d %d %d" % (sec, at(handed, t), at(acked, t), at(applied, t),
                                          at(seen, t)))
        # When the slowest hundredth of the samples were produced: a burst or a rhythm.
        slow.sort(reverse=True)
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        if gaps:
            print("scrapes: %d, time between two: p50=%.3fs p99=%.3fs max=%.3fs" % (
                len(times), percentile(gaps, 0.5), percentile(gaps, 0.99), gaps[-1]))
        print("slowest 1%: " + " ".join("%.1fs@%.0fs" % x for x in slow[:max(1, len(slow) // 100)]))
        # Where a cycle's time goes: the aggregator's steps and the exporter's merge (means
        # over the whole run, warm-up included).
        steps = mean_durations(agg_port, "civicpulse_aggregator_cycle_step_duration_seconds",
                               "step")
        try:
            last_merge = sample(parse_metrics(scrape(exp_port)),
                                "civicpulse_exporter_merge_duration_seconds") or 0.0
        except OSError:
            last_merge = 0.0
        print("cycle step means: " + " ".join(
            "%s=%.0fms (n=%d)" % (k, 1000 * m, n) for k, (n, m) in sorted(steps.items())) +
            "; exporter's last merge %.0fms" % (1000 * last_merge))
        # The embedded broker keeps only ~5 MiB of each partition: at 50 k events/s on 16
        # partitions a partition's snapshot outgrows that after about a minute and a half,
        # the exporter drops the batches whose start was cut (incomplete) and their events
        # never show. That is the broker's limit, not the pipeline's latency: say so.
        try:
            incomplete = sample(parse_metrics(scrape(exp_port)),
                                "civicpulse_exporter_incomplete_records_total") or 0.0
        except OSError:
            incomplete = 0.0
        if incomplete > 0:
            print("warning: the exporter dropped %d aggregate records whose batch the broker "
                  "had cut (civicpulse_exporter_incomplete_records_total): the embedded "
                  "broker keeps ~5 MiB a partition; use a shorter --duration or more "
                  "--partitions" % incomplete)
        return 0 if missing == 0 else 1
    finally:
        stack.stop_all()


if __name__ == "__main__":
    sys.exit(main())
