#!/usr/bin/env python3
"""Detection harness: how well the SHIPPED drop alert finds labelled drops (issue 9, item 3).

1. Real binaries (embedded broker, an aggregator, the exporter, the simulator): WARMUP of
   simulator history with daily and weekly rhythms, written as fast as the aggregator keeps up;
   then EVAL days more, with labelled drops injected by the simulator's --drop (area, all kinds,
   depth, duration), written slowly enough that the harness scrapes the exporter at least once
   per STEP of event time.
2. Each scrape is filed under the exporter's watermark (event time): the exporter's
   civicpulse_expected_events, civicpulse_participation_ratio and civicpulse_baseline_ready of
   the 1h window become series on a STEP grid of event time.
3. Those series go into a `promtool test rules` file that loads the shipped rules
   (deploy/prometheus/rules/*.yml) with every evaluation step expecting no alert; promtool
   reports every alert that does fire, with its time and labels. Nothing of the rules is
   re-implemented here: pipeline health series are fed as healthy.
4. Report: detection rate and time to detect of the drops where the area expected at least 20
   events in the hour when the drop began, and false alarms (an area's alert firing outside
   [drop start, drop end + 3 h)) per area per week.

    bench/detection.py --bin-dir build/bin            # ~10 minutes; prints a Markdown table

STATUS: WORK IN PROGRESS, its figures are not yet trustworthy (so none are in bench/README.md).
A smoke run (`--warmup-days 22 --eval-days 2`) showed the first scrape of the evaluation
standing for 20 steps (5 hours of event time): the second simulator bursts at start-up (its
--history-pace clock starts before the Kafka producer is connected) faster than the scrape
loop, so the first hours repeat one state and make false alarms and 0-minute detections.
Still to do: start the evaluation writer paused and pace from its first event (or drive event
time from the harness with kcat chunks), reject runs whose widest scrape covers more than one
step, then 5+ weeks (`--warmup-days 28 --eval-days 7` or more) for the figures.
"""
import argparse
import datetime
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from stack import Stack, free_port, parse_metrics, scrape  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
ALERTS = ["CivicpulseParticipationDrop", "CivicpulseCityWideParticipationDrop"]
MIN = 60


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text):
    """promtool's times: '1d2h30m', '90m', '3600s'."""
    total = 0
    for value, unit in re.findall(r"(\d+)([smhdw])", text):
        total += int(value) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return total


def wait_log(stack, name, text, timeout):
    deadline = time.time() + timeout
    while text not in stack.log(name):
        if time.time() > deadline:
            raise RuntimeError("%s never logged %r:\n%s" % (name, text, stack.logs()))
        time.sleep(0.2)


def plan_drops(areas, eval_start, eval_end, duration, depth, rng):
    """Drops of every kind in the first half of the areas, ~every 40 h, never overlapping."""
    drops = []
    for area in areas[: len(areas) // 2]:
        t = eval_start + rng.randint(2, 30) * 3600
        while t + duration + 4 * 3600 < eval_end:
            drops.append({"area": area, "start": t, "end": t + duration, "depth": depth})
            t += rng.randint(30, 50) * 3600
    return drops


def collect(exporter_port, grid, series, writer):
    """Scrapes until every grid point is covered or the watermark stops moving after `writer`
    exited; files each scrape under the grid points it covers."""
    filled = 0
    last_report = time.time()
    last_w, still_since = 0, time.time()
    while filled < len(grid):
        try:
            m = parse_metrics(scrape(exporter_port))
        except OSError:
            time.sleep(0.2)
            continue
        w = m.get(("civicpulse_exporter_watermark_timestamp_seconds", frozenset()), 0)
        keep = {}
        for (name, labels), value in m.items():
            d = dict(labels)
            if name in ("civicpulse_expected_events", "civicpulse_participation_ratio"):
                if d.get("window") == "1h":
                    keep[(name, labels)] = value
            elif name == "civicpulse_baseline_ready":
                keep[(name, labels)] = value
        first = filled
        while filled < len(grid) and grid[filled] <= w:
            for key, value in keep.items():
                series.setdefault(key, {})[filled] = value
            filled += 1
        collect.widest = max(getattr(collect, "widest", 0), filled - first)
        if time.time() - last_report > 30:
            print("  event time %s (%d/%d steps)" % (rfc3339(w), filled, len(grid)), flush=True)
            last_report = time.time()
        if w != last_w:
            last_w, still_since = w, time.time()
        elif writer.poll() is not None and time.time() - still_since > 10:
            break
        time.sleep(0.1)
    return filled


def label_text(labels):
    return ",".join('%s="%s"' % (k, v) for k, v in sorted(labels))


def write_test(path, grid, series, step):
    n = len(grid)
    lines = ["rule_files:"]
    for name in sorted(os.listdir(os.path.join(ROOT, "deploy", "prometheus", "rules"))):
        if name.endswith(".yml"):
            lines.append("  - %s" % os.path.join(ROOT, "deploy", "prometheus", "rules", name))
    lines += ["evaluation_interval: %ds" % step, "tests:", "  - interval: %ds" % step,
              "    input_series:"]
    # A healthy pipeline: the exporter and an aggregator up, merging all along.
    lines += ["      - series: 'up{job=\"civicpulse-exporter\",instance=\"e:9400\"}'",
              "        values: '1x%d'" % n,
              "      - series: 'up{job=\"civicpulse-aggregator\",instance=\"a:9401\"}'",
              "        values: '1x%d'" % n,
              "      - series: 'civicpulse_exporter_last_merge_timestamp_seconds{job=\"civicpulse-exporter\",instance=\"e:9400\"}'",
              "        values: '0+%dx%d'" % (step, n)]
    for (name, labels), points in sorted(series.items()):
        values = " ".join(repr(points[i]) if i in points else "_" for i in range(n))
        lines += ["      - series: '%s{%s}'" % (name, label_text(labels)),
                  "        values: '%s'" % values]
    lines.append("    alert_rule_test:")
    for i in range(n):
        for alert in ALERTS:
            lines += ["      - eval_time: %ds" % (i * step), "        alertname: %s" % alert,
                      "        exp_alerts: []"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def fired(path):
    """(seconds into the test, alertname, labels) of every alert promtool saw firing."""
    out = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True)
    text = out.stdout + out.stderr
    events = []
    current = None
    for line in text.splitlines():
        m = re.search(r"alertname: (\w+), time: ([0-9a-z.]+)", line)
        if m:
            current = (parse_duration(m.group(2)), m.group(1))
            continue
        m = re.search(r"Labels:\{(.*)\}", line)
        if m and current:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            events.append((current[0], current[1], labels))
    if out.returncode != 0 and not events:
        raise RuntimeError("promtool failed:\n" + text[-3000:])
    return events


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--warmup-days", type=int, default=28)
    parser.add_argument("--eval-days", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--areas", type=int, default=12)
    parser.add_argument("--step-minutes", type=int, default=15)
    parser.add_argument("--depth", type=float, default=0.5, help="rate factor during a drop")
    parser.add_argument("--drop-hours", type=float, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pace", type=float, default=12000, help="warm-up events/s")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    step = args.step_minutes * MIN

    now = int(time.time()) // step * step
    eval_end = now - step
    eval_start = eval_end - args.eval_days * 86400
    warm_start = eval_start - args.warmup_days * 86400
    areas = ["W%02d" % (i + 1) for i in range(args.areas)]
    drops = plan_drops(areas, eval_start, eval_end, int(args.drop_hours * 3600),
                       args.depth, rng)
    grid = list(range(eval_start, eval_end + 1, step))
    # Event time must not outrun the scrapes: about one scrape cycle (~0.5 s) per step.
    eval_pace = max(50.0, args.rate * step / 0.5)
    print("warm-up %s .. %s, evaluation .. %s, %d drops, eval pace %.0f events/s" %
          (rfc3339(warm_start), rfc3339(eval_start), rfc3339(eval_end), len(drops), eval_pace),
          flush=True)

    stack = Stack(args.bin_dir, partitions=32)
    series = {}
    started = time.time()
    try:
        brokers = stack.start_broker()
        exporter_port = free_port()
        stack.start("aggregator", "civicpulse-aggregator",
                    ["--brokers", brokers, "--listen", "127.0.0.1:%d" % free_port(),
                     "--idle-timeout", "600s", "--flush-interval", "100ms"])
        stack.start("exporter", "civicpulse-exporter",
                    ["--brokers", brokers, "--listen", "127.0.0.1:%d" % exporter_port,
                     "--merge-interval", "100ms"])
        wait_log(stack, "aggregator", "assigned partitions", 60)
        common = ["--brokers", brokers, "--rate", str(args.rate), "--areas", str(args.areas),
                  "--format", "protobuf", "--listen", "127.0.0.1:%d" % free_port()]
        # The simulator's history ends at its start-up time; --end cuts it earlier.
        stack.start("warmup", "civicpulse-simulator", common + [
            "--seed", str(args.seed), "--history", "%ds" % (int(time.time()) - warm_start),
            "--end", rfc3339(eval_start), "--history-pace", str(args.pace)])
        stack.procs["warmup"].wait(1800)
        print("warm-up written in %.0f s" % (time.time() - started), flush=True)
        # The exporter must have caught up with the warm-up before event time moves on, or
        # its first scrapes would stand for hours of the evaluation.
        last, since = None, time.time()
        while time.time() - since < 5:
            try:
                m = parse_metrics(scrape(exporter_port))
                w = m.get(("civicpulse_exporter_watermark_timestamp_seconds", frozenset()), 0)
            except OSError:
                w = None
            if w != last:
                last, since = w, time.time()
            time.sleep(0.5)
        print("exporter caught up at %s" % rfc3339(last or 0), flush=True)
        drop_flags = []
        for d in drops:
            drop_flags += ["--drop", "%s:*:%s:%ds:%g" % (d["area"], rfc3339(d["start"]),
                                                         d["end"] - d["start"], d["depth"])]
        common[-1] = "127.0.0.1:%d" % free_port()
        stack.start("eval", "civicpulse-simulator", common + [
            "--seed", str(args.seed + 1), "--history", "%ds" % (int(time.time()) - eval_start),
            "--end", rfc3339(eval_end), "--history-pace", "%.0f" % eval_pace] + drop_flags)
        filled = collect(exporter_port, grid, series, stack.procs["eval"])
        print("collected %d steps in %.0f s; at most %d steps per scrape" %
              (filled, time.time() - started, getattr(collect, "widest", 0)), flush=True)
    finally:
        stack.stop_all()

    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    test_path = os.path.join(stack.workdir, "detection_test.yml")
    write_test(test_path, grid[:filled], series, step)
    events = fired(test_path)
    print("promtool: %d alert samples firing (test file %s)" % (len(events), test_path))

    # Expected events in the drop's area at its start (kind="all", 1h).
    def expected_at(area, t):
        key = ("civicpulse_expected_events",
               frozenset({"area": area, "kind": "all", "window": "1h"}.items()))
        i = (t - eval_start) // step
        return series.get(key, {}).get(i)

    firing = {}  # area -> sorted firing times (event time)
    for offset, alert, labels in events:
        if alert == "CivicpulseParticipationDrop":
            firing.setdefault(labels.get("area"), set()).add(eval_start + offset)
    eligible = detected = 0
    delays = []
    rows = []
    for d in drops:
        exp = expected_at(d["area"], d["start"])
        hits = sorted(t for t in firing.get(d["area"], ()) if d["start"] <= t < d["end"] + 3600)
        delay = (hits[0] - d["start"]) / 60 if hits else None
        ok = delay is not None and delay <= 60
        if exp is not None and exp >= 20:
            eligible += 1
            detected += ok
            if delay is not None:
                delays.append(delay)
        rows.append((d["area"], rfc3339(d["start"]), exp, delay))
    false_alarms = 0
    for area, times in firing.items():
        windows = [(d["start"], d["end"] + 3 * 3600) for d in drops if d["area"] == area]
        outside = sorted(t for t in times if not any(a <= t < b for a, b in windows))
        # One alarm per contiguous run of firing steps.
        prev = None
        for t in outside:
            if prev is None or t - prev > step:
                false_alarms += 1
            prev = t
    weeks = args.eval_days / 7
    print()
    print("| drop (area, start) | expected events in the hour | detected after (min) |")
    print("|---|---|---|")
    for area, start, exp, delay in rows:
        print("| %s %s | %s | %s |" % (area, start, "-" if exp is None else "%.0f" % exp,
                                      "not detected" if delay is None else "%.0f" % delay))
    print()
    print("eligible drops (>= 20 expected): %d, detected within an hour: %d (%.0f%%)" %
          (eligible, detected, 100.0 * detected / max(eligible, 1)))
    if delays:
        delays.sort()
        print("time to detect: median %.0f min, max %.0f min" %
              (delays[len(delays) // 2], delays[-1]))
    print("false alarms: %d over %d areas x %.1f weeks = %.3f per area per week" %
          (false_alarms, len(areas), weeks, false_alarms / (len(areas) * weeks)))
    print("city-wide drop alert samples:",
          sum(1 for _, a, _ in events if a == "CivicpulseCityWideParticipationDrop"))
    print("total %.0f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
