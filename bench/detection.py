#!/usr/bin/env python3
"""Detection harness: how well the SHIPPED drop alert finds labelled drops (issue 9, item 3).

    /usr/bin/python3 bench/detection.py --bin-dir build/bin     # ~25 min; Markdown on stdout
    /usr/bin/python3 bench/detection.py --series DIR/series.json --rules R.yml ...  # ~5 min

Figures and their reading: bench/README.md, "Detection, measured".

1. Traffic: `civicpulse-simulator --output stdout` writes WARMUP + EVAL days of NDJSON (daily
   and weekly rhythms) ending at --end, with labelled drops (area, all kinds, depth, duration)
   injected by its --drop in the evaluation days. Same seed and --end, same events.
2. Real binaries: the embedded broker (ONE partition per topic, so that there is one watermark
   and no quiet partition holds the exporter back), an aggregator and the exporter. The harness
   produces the file through librdkafka (confluent-kafka), keyed by area, in event-time order:
   - warm-up: in chunks of --warmup-chunk-hours, each after the exporter has caught up with the
     previous one (so the broker's short retention never loses a record);
   - evaluation: event time is driven by the harness. For every STEP grid point g it produces
     the events with occurred_at < g + lateness (5 min), waits until the exporter's watermark
     is exactly that of the last event produced (last event - lateness, <= g), then scrapes
     /metrics once. One scrape per step, by construction; the step's watermark lag (g minus
     the watermark) is recorded and reported.
3. The scraped civicpulse_expected_events, civicpulse_participation_ratio (1h window) and
   civicpulse_baseline_ready become promtool input series on the STEP grid, together with a
   healthy pipeline (up, last merge); a `promtool test rules` file loads the SHIPPED rules
   (deploy/prometheus/rules/*.yml, or --rules) and expects no alert at every step: promtool
   reports every alert that does fire, with its time and labels. Nothing of the rules is
   re-implemented here.
4. Report: per drop, the expected events of the area (kind="all") in the drop's first hour and
   the time from the drop's start to the first firing CivicpulseParticipationDrop of that area
   (any kind); detection rate within an hour where >= 20 events were expected; false alarms
   (firing episodes of an area outside [drop start, drop end + 3 h)) per area per week of
   undisturbed time.

The STEP (default 5 min) is also Prometheus' evaluation interval in the test, so `for: 10m`
fires on the third evaluation that holds: a time to detect is quantised to STEP and is up to
one STEP later than with a 15 s evaluation interval.
"""
import argparse
import datetime
import json
import math
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from stack import Stack, free_port, parse_metrics, scrape  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
ALERTS = ["CivicpulseParticipationDrop", "CivicpulseCityWideParticipationDrop"]
MIN = 60
HOUR = 3600
LATENESS = 300  # the aggregator's default --allowed-lateness
WATERMARK = ("civicpulse_exporter_watermark_timestamp_seconds", frozenset())


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_duration(text):
    """promtool's times: '1w2d3h30m', '90m', '3600s'."""
    total = 0
    for value, unit in re.findall(r"(\d+)(ms|[smhdwy])", text):
        total += int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
                               "w": 604800, "y": 31536000}[unit]
    return int(total)


def plan_drops(areas, eval_start, eval_end, duration, depth, rng, share):
    """Drops of every kind in the first `share` of the areas, starting at a random minute of
    the day's busier hours (07:00-19:59 UTC), at least 6 h apart after the previous drop's
    end, never within 3 h of the evaluation's start or end."""
    drops = []
    for area in areas[: max(1, int(round(len(areas) * share)))]:
        t = eval_start + 3 * HOUR
        while True:
            t += rng.randint(0, 20 * HOUR)
            day = t - t % 86400
            hour = (t % 86400) // HOUR
            if hour < 7:
                t = day + 7 * HOUR + rng.randint(0, 13 * HOUR - 1)
            elif hour >= 20:
                t = day + 86400 + 7 * HOUR + rng.randint(0, 13 * HOUR - 1)
            t = t - t % MIN
            if t + duration + 3 * HOUR > eval_end:
                break
            drops.append({"area": area, "start": t, "end": t + duration, "depth": depth})
            t += duration + 6 * HOUR
    return sorted(drops, key=lambda d: d["start"])


class Feeder:
    """The NDJSON file, produced in event-time order (keyed by area) by a librdkafka producer
    (confluent-kafka), flushed after every chunk."""

    def __init__(self, path, brokers):
        from confluent_kafka import Producer  # Debian: python3-confluent-kafka
        self.f = open(path, "rb")
        self.pending = None  # (t, area, line) read but not yet produced
        self.producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5,
                                  "compression.type": "none", "enable.idempotence": True,
                                  "queue.buffering.max.messages": 1000000})
        self.last_t = None
        self.produced = 0
        self.disorder = 0

    def _next(self):
        if self.pending is None:
            line = self.f.readline()
            if not line:
                return None
            m = re.search(rb'"occurred_at":"([^"]+)"', line)
            a = re.search(rb'"area":"([^"]+)"', line)
            self.pending = (parse_time(m.group(1).decode()), a.group(1), line.rstrip(b"\n"))
        return self.pending

    def produce_until(self, limit):
        """Produces every event with occurred_at < limit and waits for their acks."""
        n = 0
        while True:
            item = self._next()
            if item is None or item[0] >= limit:
                break
            t, area, line = item
            if self.last_t is not None and t < self.last_t:
                self.disorder += 1
            self.last_t = t if self.last_t is None else max(self.last_t, t)
            while True:
                try:
                    self.producer.produce("civicpulse.events.v1", key=area, value=line)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.pending = None
            n += 1
        if self.producer.flush(60) != 0:
            raise RuntimeError("events not acknowledged within 60 s")
        self.produced += n
        return n

    def close(self):
        self.producer.flush(10)
        self.producer = None  # disconnects before the broker stops (no librdkafka noise)


def exporter_metrics(port):
    while True:
        try:
            return parse_metrics(scrape(port))
        except OSError:
            time.sleep(0.05)


def wait_watermark(stack, port, target, timeout):
    """Scrapes until the exporter's watermark is `target` (seconds, ms precision); returns
    that scrape."""
    deadline = time.time() + timeout
    while True:
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                raise RuntimeError("%s exited (%s) at event time %s; its log: %s" % (
                    name, proc.returncode, rfc3339(target),
                    os.path.join(stack.workdir, name + ".log")))
        m = exporter_metrics(port)
        w = m.get(WATERMARK, 0)
        if abs(w - target) < 0.0005 or w > target:
            return m
        if time.time() > deadline:
            raise RuntimeError("exporter watermark %s never reached %s" %
                               (rfc3339(w), rfc3339(target)))
        time.sleep(0.02)


def keep_series(m):
    keep = {}
    for (name, labels), value in m.items():
        d = dict(labels)
        if name in ("civicpulse_expected_events", "civicpulse_participation_ratio"):
            if d.get("window") == "1h":
                keep[(name, labels)] = value
        elif name == "civicpulse_baseline_ready":
            keep[(name, labels)] = value
    return keep


def label_text(labels):
    return ",".join('%s="%s"' % (k, v) for k, v in sorted(labels))


def write_test(path, rule_files, n, series, step):
    lines = ["rule_files:"] + ["  - %s" % r for r in rule_files]
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
        lines += ["      - series: '%s{%s,job=\"civicpulse-exporter\",instance=\"e:9400\"}'" %
                  (name, label_text(labels)),
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


def episodes(times, step):
    """Contiguous runs of firing steps -> their start times."""
    starts, prev = [], None
    for t in sorted(times):
        if prev is None or t - prev > step:
            starts.append(t)
        prev = t
    return starts


def poisson_cdf(k, lam):
    if k < 0:
        return 0.0
    total, term = 0.0, math.exp(-lam)
    for i in range(int(k) + 1):
        total += term
        term *= lam / (i + 1)
    return total


def print_bound(depth):
    """The best any rule can do with one hour of a drop (no rule involved): the count of the
    drop's first hour is Poisson(depth * E) against Poisson(E) normally. The largest threshold
    k that still catches 95% of drops (P(N_drop <= k) >= 0.95) falsely fires on a normal hour
    with probability P(N_normal <= k). Assumes a perfectly known expectation (the real one is
    a median of 3-8 weeks, which only adds noise) and a detector that waits the whole hour."""
    print("| expected events/h | threshold for 95%% of %.0f%% drops | false alarm per normal hour |"
          " normal hours per false alarm |" % (100 * (1 - depth)))
    print("|---|---|---|---|")
    for e in (20, 30, 40, 50, 60, 80, 100):
        k = 0
        while poisson_cdf(k, depth * e) < 0.95:
            k += 1
        p = poisson_cdf(k, e)
        print("| %d | <= %d | %.4f | %s |" % (e, k, p, "%.0f" % (1 / p) if p > 0 else "-"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--end", default="2026-11-30T00:00:00Z",
                        help="end of the simulated traffic (the evaluation's end)")
    parser.add_argument("--warmup-days", type=int, default=28)
    parser.add_argument("--eval-days", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.25, help="city-wide mean events/s")
    parser.add_argument("--areas", type=int, default=24)
    parser.add_argument("--drop-share", type=float, default=0.5,
                        help="share of the areas that get drops (the rest stay undisturbed)")
    parser.add_argument("--step-minutes", type=int, default=5)
    parser.add_argument("--depth", type=float, default=0.5, help="rate factor during a drop")
    parser.add_argument("--drop-hours", type=float, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warmup-chunk-hours", type=int, default=2)
    parser.add_argument("--rules", nargs="*", help="rule files (default: the shipped ones)")
    parser.add_argument("--keep", help="directory to keep the events, series and test file in")
    parser.add_argument("--series", help="a series.json of an earlier run (--keep): evaluate "
                        "--rules over its scraped series without running the pipeline again")
    parser.add_argument("--bound", action="store_true",
                        help="print the statistical limit for --depth (no run) and exit")
    args = parser.parse_args()
    if args.bound:
        print_bound(args.depth)
        return 0
    if args.series:
        saved = json.load(open(args.series))
        for k, v in saved["args"].items():
            if k not in ("rules", "keep", "series", "bin_dir"):
                setattr(args, k, v)
    rng = random.Random(args.seed)
    step = args.step_minutes * MIN
    started = time.time()

    eval_end = int(parse_time(args.end)) // HOUR * HOUR
    eval_start = eval_end - args.eval_days * 86400
    warm_start = eval_start - args.warmup_days * 86400
    if eval_end + 600 > time.time():
        sys.exit("--end must be in the past (events ahead of the clock are invalid)")
    areas = ["W%02d" % (i + 1) for i in range(args.areas)]
    drops = plan_drops(areas, eval_start, eval_end, int(args.drop_hours * HOUR), args.depth,
                       rng, args.drop_share)
    rule_files = args.rules or [
        os.path.join(ROOT, "deploy", "prometheus", "rules", n)
        for n in sorted(os.listdir(os.path.join(ROOT, "deploy", "prometheus", "rules")))
        if n.endswith(".yml")]
    rule_files = [os.path.abspath(r) for r in rule_files]
    print("seed %d, %d areas, rate %g/s; warm-up %s .. %s, evaluation .. %s, step %d min, "
          "%d drops (depth %g, %g h)" %
          (args.seed, args.areas, args.rate, rfc3339(warm_start), rfc3339(eval_start),
           rfc3339(eval_end), args.step_minutes, len(drops), args.depth, args.drop_hours),
          flush=True)

    if args.series:
        grid = saved["grid"]
        series = {(n, frozenset(l.items())): {int(i): v for i, v in p.items()}
                  for n, l, p in saved["series"]}
        lags = saved["lags"]
        outcomes = saved["outcomes"]
        work = args.keep or os.path.dirname(os.path.abspath(args.series))
        os.makedirs(work, exist_ok=True)
        return evaluate(args, drops, rule_files, grid, series, lags, outcomes, work, started)
    stack = Stack(args.bin_dir, partitions=1)
    work = args.keep or stack.workdir
    os.makedirs(work, exist_ok=True)
    events_path = os.path.join(work, "events.ndjson")
    drop_flags = []
    for d in drops:
        drop_flags += ["--drop", "%s:*:%s:%ds:%g" % (d["area"], rfc3339(d["start"]),
                                                     d["end"] - d["start"], d["depth"])]
    with open(events_path, "w") as out:
        subprocess.run([os.path.join(args.bin_dir, "civicpulse-simulator"), "--output", "stdout",
                        "--seed", str(args.seed), "--rate", str(args.rate),
                        "--areas", str(args.areas), "--history",
                        "%ds" % (eval_end - warm_start), "--end", rfc3339(eval_end),
                        "--listen", "127.0.0.1:%d" % free_port()] + drop_flags,
                       stdout=out, stderr=subprocess.DEVNULL, check=True)
    print("simulator: %d events in %.0f s" % (sum(1 for _ in open(events_path)),
                                              time.time() - started), flush=True)

    grid = list(range(eval_start, eval_end + 1, step))
    series = {}
    lags = []
    feeder = None
    try:
        brokers = stack.start_broker()
        exporter_port, aggregator_port = free_port(), free_port()
        stack.start("aggregator", "civicpulse-aggregator",
                    ["--brokers", brokers, "--listen", "127.0.0.1:%d" % aggregator_port,
                     "--idle-timeout", "24h", "--flush-interval", "50ms",
                     "--max-areas", str(args.areas + 1)])
        stack.start("exporter", "civicpulse-exporter",
                    ["--brokers", brokers, "--listen", "127.0.0.1:%d" % exporter_port,
                     "--merge-interval", "50ms", "--max-areas", str(args.areas + 1)])
        feeder = Feeder(events_path, brokers)
        # Warm-up, chunk by chunk: each chunk waits for the exporter to have read the previous.
        t = warm_start
        while t < eval_start:
            t = min(t + args.warmup_chunk_hours * HOUR, eval_start)
            if feeder.produce_until(t) and feeder.last_t is not None:
                wait_watermark(stack, exporter_port, feeder.last_t - LATENESS, 300)
        print("warm-up: %d events through the pipeline in %.0f s" %
              (feeder.produced, time.time() - started), flush=True)
        # Evaluation: one scrape per step, after the watermark is that of the last event.
        last_report = time.time()
        for i, g in enumerate(grid):
            feeder.produce_until(g + LATENESS)
            w = feeder.last_t - LATENESS
            m = wait_watermark(stack, exporter_port, w, 300)
            lags.append(g - m.get(WATERMARK, 0))
            for key, value in keep_series(m).items():
                series.setdefault(key, {})[i] = value
            if time.time() - last_report > 60:
                print("  event time %s (%d/%d steps, %.0f s)" %
                      (rfc3339(g), i + 1, len(grid), time.time() - started), flush=True)
                last_report = time.time()
        print("evaluation: %d steps scraped in %.0f s; %d events in total, %d out of order" %
              (len(grid), time.time() - started, feeder.produced, feeder.disorder), flush=True)
        outcomes = {dict(l).get("outcome"): v
                    for (n, l), v in parse_metrics(scrape(aggregator_port)).items()
                    if n == "civicpulse_aggregator_events_total"}
    finally:
        if feeder:
            feeder.close()
        stack.stop_all()

    with open(os.path.join(work, "series.json"), "w") as f:
        json.dump({"args": vars(args), "grid": grid, "lags": lags, "outcomes": outcomes,
                   "series": [[n, dict(l), p] for (n, l), p in series.items()]}, f)
    return evaluate(args, drops, rule_files, grid, series, lags, outcomes, work, started)


def evaluate(args, drops, rule_files, grid, series, lags, outcomes, work, started):
    step = args.step_minutes * MIN
    eval_start = grid[0]
    areas = ["W%02d" % (i + 1) for i in range(args.areas)]
    print("rules: " + " ".join(os.path.relpath(r, ROOT) for r in rule_files))
    test_path = os.path.join(work, "detection_test.yml")
    write_test(test_path, rule_files, len(grid), series, step)
    t0 = time.time()
    events = fired(test_path)
    with open(os.path.join(work, "fired.json"), "w") as f:
        json.dump(events, f)
    print("promtool: %d alert samples firing in %.0f s (test file %s)" %
          (len(events), time.time() - t0, test_path), flush=True)

    def value_at(name, area, kind, t):
        key = (name, frozenset({"area": area, "kind": kind, "window": "1h"}.items()))
        i = (t - eval_start) // step
        return series.get(key, {}).get(i)

    firing = {}  # area -> set of firing times (event time), any kind
    firing_kind = {}  # (area, kind) -> set
    city = set()
    for offset, alert, labels in events:
        if alert == "CivicpulseParticipationDrop":
            firing.setdefault(labels.get("area"), set()).add(eval_start + offset)
            firing_kind.setdefault((labels.get("area"), labels.get("kind")), set()).add(
                eval_start + offset)
        else:
            city.add(eval_start + offset)

    rows = []
    buckets = [(20, 40), (40, 80), (80, 1e9)]
    for d in drops:
        # Expected events (kind="all") in the drop's first hour: the 1h window ending then.
        t_exp = d["start"] + HOUR
        exp = value_at("civicpulse_expected_events", d["area"], "all", t_exp - t_exp % step)
        hits = sorted(t for t in firing.get(d["area"], ()) if d["start"] <= t < d["end"] + HOUR)
        delay = (hits[0] - d["start"]) / 60 if hits else None
        rows.append((d, exp, delay))
    eligible = [r for r in rows if r[1] is not None and r[1] >= 20]
    fa_area = {}
    fa_kind = 0
    exposure = {}
    for area in areas:
        windows = [(d["start"], d["end"] + 3 * HOUR) for d in drops if d["area"] == area]
        disturbed = sum(b - a for a, b in windows)
        exposure[area] = (args.eval_days * 86400 - disturbed) / (7 * 86400)
        outside = [t for t in firing.get(area, ()) if not any(a <= t < b for a, b in windows)]
        fa_area[area] = len(episodes(outside, step))
        for (a2, kind), times in firing_kind.items():
            if a2 == area:
                fa_kind += len(episodes(
                    [t for t in times if not any(a <= t < b for a, b in windows)], step))
    area_weeks = sum(exposure.values())
    fa_total = sum(fa_area.values())

    print()
    print("| drop (area, start UTC) | expected events in its first hour | detected after (min) |")
    print("|---|---|---|")
    for d, exp, delay in rows:
        print("| %s %s | %s | %s |" % (d["area"], rfc3339(d["start"]),
                                      "-" if exp is None else "%.0f" % exp,
                                      "not detected" if delay is None else "%.0f" % delay))
    print()
    print("| expected events in the first hour | drops | detected within 1 h | rate | "
          "time to detect: min / median / max (min) |")
    print("|---|---|---|---|---|")
    for lo, hi in buckets + [(20, 1e9)]:
        rs = [r for r in eligible if lo <= r[1] < hi]
        ds = sorted(r[2] for r in rs if r[2] is not None and r[2] <= 60)
        label = (">= %d" % lo) if hi > 1e8 else "%d-%d" % (lo, hi)
        print("| %s | %d | %d | %s | %s |" % (
            label, len(rs), len(ds), "%.0f%%" % (100.0 * len(ds) / len(rs)) if rs else "-",
            "%.0f / %.0f / %.0f" % (ds[0], ds[len(ds) // 2], ds[-1]) if ds else "-"))
    below = [r for r in rows if r[1] is not None and r[1] < 20]
    print("(below 20 expected: %d drops, %d detected within 1 h)" %
          (len(below), sum(1 for r in below if r[2] is not None and r[2] <= 60)))
    print()
    print("false alarms (CivicpulseParticipationDrop episodes of an area outside its drops "
          "+ 3 h): %d over %.1f area-weeks = %.3f per area per week (%.2f per area per 30 "
          "days); per (area, kind): %d" %
          (fa_total, area_weeks, fa_total / area_weeks, fa_total / area_weeks * 30 / 7,
           fa_kind))
    print("  per area: " + ", ".join("%s %d" % (a, fa_area[a]) for a in areas))
    print("city-wide drop alert episodes: %d" % len(episodes(city, step)))
    print("watermark lag behind the grid point: median %.0f s, max %.0f s" %
          (sorted(lags)[len(lags) // 2], max(lags)))
    print("aggregator outcomes: " + ", ".join("%s %d" % kv for kv in sorted(outcomes.items())))
    print("total %.0f s (%s)" % (time.time() - started, rfc3339(time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
