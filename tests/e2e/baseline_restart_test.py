#!/usr/bin/env python3
"""The seasonal expectation survives restarts of every service.

Three weeks and a day of simulator history go through the broker, an aggregator and the
exporter until civicpulse_expected_events is ready for every area. Then the aggregator is
SIGKILLed and the exporter SIGTERMed, and both start again: the aggregator restores the
hourly history from the changelog (it is part of the engine state) and the exporter rebuilds it
from the aggregates topic. Afterwards the expectation is ready again and equal to what it was
(within the drift of the windows, which end at a watermark that follows the wall clock while
the stream is idle), without re-reading the events.
"""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from stack import Stack, free_port, parse_metrics, scrape  # noqa: E402

AREAS = ["W01", "W02", "W03"]


def expectations(port):
    """{(area, window): expected events} for kind="all", and the set of ready areas."""
    try:
        samples = parse_metrics(scrape(port))
    except OSError:
        return {}, set()
    expected, ready = {}, set()
    for (name, labels), value in samples.items():
        d = dict(labels)
        if d.get("kind") != "all":
            continue
        if name == "civicpulse_expected_events":
            expected[(d["area"], d["window"])] = value
        elif name == "civicpulse_baseline_ready" and value == 1:
            ready.add(d["area"])
    return expected, ready


def complete(expected, ready):
    return (ready >= set(AREAS) | {"all"} and
            all((a, w) in expected for a in AREAS for w in ("1h", "24h")))


def wait_complete(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        expected, ready = expectations(port)
        if complete(expected, ready):
            return expected
        time.sleep(1)
    raise AssertionError("expectation not ready; ready: %s" % sorted(expectations(port)[1]))


def wait_log(stack, name, text, timeout, since=0):
    """Until `text` is in the log after its first `since` characters (a restarted service
    appends to its log)."""
    deadline = time.time() + timeout
    while text not in stack.log(name)[since:]:
        if time.time() > deadline:
            raise AssertionError("%s never logged %r" % (name, text))
        time.sleep(0.3)


def applied(port):
    m = parse_metrics(scrape(port))
    return m.get(("civicpulse_aggregator_events_total", frozenset({"outcome": "applied"}.items())))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    args = parser.parse_args()
    stack = Stack(args.bin_dir, partitions=8)
    ok = False
    try:
        brokers = stack.start_broker()
        exporter_port, aggregator_port = free_port(), free_port()

        def aggregator():
            stack.start("aggregator", "civicpulse-aggregator",
                        ["--brokers", brokers, "--listen", "127.0.0.1:%d" % aggregator_port,
                         "--idle-timeout", "2s", "--flush-interval", "300ms",
                         "--instance-id", "agg"])

        def exporter():
            stack.start("exporter", "civicpulse-exporter",
                        ["--brokers", brokers, "--listen", "127.0.0.1:%d" % exporter_port,
                         "--merge-interval", "300ms"])

        aggregator()
        exporter()
        wait_log(stack, "aggregator", "assigned partitions", 60)
        # ~100,000 events of history, written at a pace the aggregator keeps up with (the
        # embedded broker keeps ~5 MiB per partition: a reader that falls behind loses the
        # oldest records, and the history would start later).
        stack.start("simulator", "civicpulse-simulator",
                    ["--brokers", brokers, "--listen", "127.0.0.1:%d" % free_port(),
                     "--rate", "0.05", "--areas", str(len(AREAS)), "--history", "22d2h",
                     "--history-pace", "10000", "--seed", "11", "--format", "protobuf"])
        # Measure once the whole history is read: earlier, the windows end a day or more back.
        wait_log(stack, "simulator", "history complete", 120)
        time.sleep(5)
        before = wait_complete(exporter_port, 60)
        events_before = applied(aggregator_port)
        print("before:", {k: round(v, 1) for k, v in sorted(before.items())})

        stack.stop("aggregator", signal.SIGKILL)
        stack.stop("exporter", signal.SIGTERM)
        first_life = len(stack.log("aggregator"))
        aggregator()
        exporter()
        # The new aggregator restores its partitions, then publishes a snapshot batch of them
        # (a new lineage), which replaces everything the exporter held of those partitions.
        wait_log(stack, "aggregator", "restored from the changelog", 60, since=first_life)
        time.sleep(5)
        after = wait_complete(exporter_port, 90)
        print("after:", {k: round(v, 1) for k, v in sorted(after.items())})
        log = stack.log("aggregator")[first_life:]
        print([line for line in log.splitlines() if "restored" in line])
        failures = []
        if " 0 restored from the changelog" in log:
            failures.append("the restarted aggregator restored nothing from the changelog")
        events_after = applied(aggregator_port)
        if events_after is not None and events_before is not None and \
                events_after > events_before + 1000:
            failures.append("the restarted aggregator re-read the history (%s events applied, "
                            "%s before)" % (events_after, events_before))
        for key, value in sorted(before.items()):
            area, window = key
            if window not in ("1h", "24h"):
                continue
            got = after.get(key)
            # The windows moved by the seconds the restart took: a few percent at most.
            if got is None or abs(got - value) > 0.05 * max(value, 20):
                failures.append("%s %s: %.1f before, %s after" % (area, window, value, got))
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            print(stack.logs())
            return 1
        print("OK: expectation of %d areas ready and unchanged after restarting the aggregator "
              "(SIGKILL) and the exporter" % len(AREAS))
        ok = True
        return 0
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()
        if not ok:
            print("logs in", stack.workdir)


if __name__ == "__main__":
    sys.exit(main())
