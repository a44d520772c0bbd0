#!/usr/bin/env python3
"""Chaos: exact indicators survive kill -9 of an aggregator, a rebalance, and an exporter restart.

Two aggregators share the events; one is SIGKILLed half-way, a replacement joins, and the
exporter is SIGKILLed and restarted. Afterwards every count must still be exact: nothing lost
(the new owners rebuild the partitions' state) and nothing doubled (the exporter keeps one
snapshot per source partition and cell, the newest by source offset).

The aggregators run with a long --idle-timeout. The second half of the events is produced
only once the first half is counted; a partition quiet for longer than the idle timeout in
that pause has its watermark moved to the wall clock, and its share of the second half (hours
to days old) would then be late, correctly (docs/event-time.md, "idleness"). With a 2 s
timeout the test failed whenever the pause outlasted it, as it did on a loaded machine.
"""
import argparse
import datetime
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from stack import Stack, free_port, parse_metrics, sample, scrape  # noqa: E402

KINDS = ["watch_report", "volunteer_shift", "recycling"]


def make_events(n, seed=11):
    rng = random.Random(seed)
    now = datetime.datetime.now(datetime.timezone.utc)
    events = []
    for i in range(n):
        kind = rng.choice(KINDS)
        minutes_ago = rng.randint(10, 6 * 24 * 60)
        e = {"event_id": "chaos-%d" % i, "kind": kind,
             "participant": "p-%d" % rng.randint(1, 300),
             "area": "W%02d" % rng.randint(1, 12),
             "occurred_at": (now - datetime.timedelta(minutes=minutes_ago)).isoformat()}
        if kind == "volunteer_shift":
            e["hours"] = 2
        if kind == "recycling":
            e["weight_kg"] = 1.5
        events.append((minutes_ago, e))
    # Oldest first, so that nothing is late.
    events.sort(key=lambda m_e: -m_e[0])
    return [e for _, e in events]


def wait_for(port, check, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = parse_metrics(scrape(port))
            if check(last):
                return True, last
        except OSError:
            pass
        time.sleep(1)
    return False, last


def total_events(m):
    return sum(v for (name, _), v in m.items() if name == "civicpulse_events_total")


def explain(m, events, stack, aggregator_ports):
    """Prints where a shortfall is: the areas short, and what the services counted."""
    if m is None:
        return
    want = {}
    for e in events:
        want[e["area"]] = want.get(e["area"], 0) + 1
    for area in sorted(want):
        got = sum(v for (name, labels), v in m.items()
                  if name == "civicpulse_events_total" and ("area", area) in labels)
        if got != want[area]:
            print("  area %s: %s events (want %d)" % (area, got, want[area]))
    for (name, labels), v in sorted(m.items()):
        if name.startswith("civicpulse_exporter_") and name.endswith("_records_total"):
            print("  exporter %s%s %s" % (name, dict(labels), v))
    for agg, port in sorted(aggregator_ports.items()):
        if not stack.running(agg):
            continue
        try:
            a = parse_metrics(scrape(port))
        except OSError as e:
            print("  %s: no /metrics (%s)" % (agg, e))
            continue
        for (name, labels), v in sorted(a.items()):
            if name in ("civicpulse_aggregator_skipped_offsets_total",
                        "civicpulse_aggregator_events_total",
                        "civicpulse_aggregator_publish_failures_total",
                        "civicpulse_aggregator_restored_partitions_total",
                        "civicpulse_aggregator_assigned_partitions"):
                print("  %s %s%s %s" % (agg, name, dict(labels), v))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    args = parser.parse_args()
    stack = Stack(args.bin_dir, partitions=8)
    ok = False
    try:
        brokers = stack.start_broker()
        exporter_port = free_port()
        aggregator_ports = {}

        def aggregator(name):
            aggregator_ports[name] = free_port()
            stack.start(name, "civicpulse-aggregator",
                        ["--brokers", brokers, "--listen", "127.0.0.1:%d" % aggregator_ports[name],
                         "--idle-timeout", "1h", "--flush-interval", "300ms",
                         "--instance-id", name])

        def exporter():
            stack.start("exporter", "civicpulse-exporter",
                        ["--brokers", brokers, "--listen", "127.0.0.1:%d" % exporter_port,
                         "--merge-interval", "300ms"])

        aggregator("agg-a")
        aggregator("agg-b")
        exporter()
        time.sleep(3)
        events = make_events(3000)
        half = len(events) // 2
        to_records = lambda evs: [(e["area"], json.dumps(e)) for e in evs]
        stack.produce("civicpulse.events.v1", to_records(events[:half]))
        done, m = wait_for(exporter_port, lambda m: total_events(m) == half, 90)
        if not done:
            print("first half not counted: %s events" % (m and total_events(m)))
            return 1

        stack.stop("agg-a", signal.SIGKILL)        # dies without flushing or committing
        stack.produce("civicpulse.events.v1", to_records(events[half:]))
        aggregator("agg-c")                        # a replacement joins the group
        stack.stop("exporter", signal.SIGKILL)     # and the exporter restarts from the topic
        exporter()

        people = len({e["participant"] for e in events})
        by_kind = {k: len({e["participant"] for e in events if e["kind"] == k}) for k in KINDS}

        def exact(m):
            if total_events(m) != len(events):
                return False
            if sample(m, "civicpulse_active_participants", area="all", kind="all",
                      window="7d") != people:
                return False
            return all(sample(m, "civicpulse_active_participants", area="all", kind=k,
                              window="7d") == n for k, n in by_kind.items())

        done, m = wait_for(exporter_port, exact, 120)
        if not done:
            print("after kill -9 and rebalance: events_total %s (want %d), active 7d %s (want %d)"
                  % (m and total_events(m), len(events),
                     m and sample(m, "civicpulse_active_participants", area="all", kind="all",
                                  window="7d"), people))
            explain(m, events, stack, aggregator_ports)
            return 1
        # Stays exact (nothing doubled by late re-publishes) for a few more merges.
        time.sleep(3)
        m = parse_metrics(scrape(exporter_port))
        if not exact(m):
            print("indicators drifted after recovery: events_total %s" % total_events(m))
            explain(m, events, stack, aggregator_ports)
            return 1
        print("recovery: %d events, %d participants exact after kill -9, rebalance and "
              "exporter restart: OK" % (len(events), people))
        ok = True
        return 0
    finally:
        stack.stop_all()
        if not ok:
            print(stack.logs())


if __name__ == "__main__":
    sys.exit(main())
