#!/usr/bin/env python3
"""End-to-end: the real binaries on the embedded broker, exact indicator values.

Starts civicpulse-broker, two civicpulse-aggregator instances (one consumer group) and
civicpulse-exporter; produces a known set of JSON events with kcat (several areas and kinds,
timestamps with offsets, a duplicate, a late event, invalid records); then asserts that the
exporter's /metrics equal the exact expected values on every window and that every invalid
record is in the dead-letter topic with its reason.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from stack import Stack, free_port, parse_metrics, sample, scrape  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def at(minutes_ago, offset_hours=0):
    """RFC 3339 time `minutes_ago` before now, written with the given UTC offset."""
    tz = datetime.timezone(datetime.timedelta(hours=offset_hours))
    return (NOW - datetime.timedelta(minutes=minutes_ago)).astimezone(tz).isoformat()


def ev(event_id, kind, participant, area, occurred_at, **extra):
    e = {"event_id": event_id, "kind": kind, "participant": participant, "area": area,
         "occurred_at": occurred_at}
    e.update(extra)
    return area, json.dumps(e)


# In production order, oldest first (areas may share a partition), except the duplicate and
# the late event at the end. Minutes ago: 1h-window events are 10..40 min old, the 24h one
# 20 h, 7d ones 2 and 5 days; the watermark ends up at now - 5 min.
VALID = [
    ev("e1", "watch_report", "p-1", "W01", at(5 * 24 * 60), category="graffiti"),
    ev("e8", "watch_report", "p-5", "W02", at(2 * 24 * 60, -5), age_band="under-16"),
    ev("e2", "volunteer_shift", "p-2", "W01", at(20 * 60, 2), hours=3.5,
       organisation="City Hospital"),
    ev("e7", "volunteer_shift", "p-2", "W02", at(40, -5), hours=2, public_body=False,
       coproduction="co_design"),
    ev("e3", "watch_report", "p-1", "W01", at(30, 1), age_band="65-74",
       category="suspicious_vehicle"),
    ev("e4", "recycling", "p-3", "W01", at(20), weight_kg=4.2, material="glass"),
    # Out of order within the allowed lateness: e10 (10 min ago) is produced before e9.
    ev("e10", "recycling", "p-6", "W05", at(10), weight_kg=1.5, age_band="25-34"),
    ev("e9", "recycling", "p-6", "W05", at(15), weight_kg=10, mode="collective",
       age_band="25-34"),
    # Same event_id again: applied once.
    ev("e3", "watch_report", "p-1", "W01", at(25, 1), age_band="65-74"),
    # 3 h old while W01's watermark is at most 25 min old and grace is 1 h: late.
    ev("e6", "watch_report", "p-4", "W01", at(180)),
]

INVALID = [  # (value, expected error header)
    ('{"event_id":"x1","kind":"watch_report","area":"W01","occurred_at":"%s"}' % at(30),
     "missing_field"),
    ('{"event_id":"x2","kind":"volunteer_shift","participant":"p-9","area":"W01",'
     '"occurred_at":"%s","hours":30}' % at(30), "out_of_range"),
    ('{"event_id":"x3","kind":"bake_sale","participant":"p-9","area":"W02",'
     '"occurred_at":"%s"}' % at(30), "invalid_value"),
    ('{"event_id":"x4","kind":"watch_report",', "invalid_json"),
    ('{"event_id":"x5","kind":"watch_report","participant":"p-9","area":"W05",'
     '"occurred_at":"%s"}' % at(-60), "future_timestamp"),
    ('{"event_id":"x6","kind":"watch_report","participant":"p-9","area":"W05",'
     '"occurred_at":"2026-11-22T18:04:05"}', "invalid_timestamp"),
]

W = ("1h", "24h", "7d")


def expected():
    """Exact values, worked out by hand from the events above."""
    exp = {}

    def put(name, value, **labels):
        exp[(name, frozenset(labels.items()))] = value

    for area, kind, n in [("W01", "watch_report", 2), ("W01", "volunteer_shift", 1),
                          ("W01", "recycling", 1), ("W02", "watch_report", 1),
                          ("W02", "volunteer_shift", 1), ("W05", "recycling", 2)]:
        put("civicpulse_events_total", n, area=area, kind=kind)
    active = {  # (area, kind): (1h, 24h, 7d)
        ("W01", "watch_report"): (1, 1, 1), ("W01", "volunteer_shift"): (0, 1, 1),
        ("W01", "recycling"): (1, 1, 1), ("W01", "all"): (2, 3, 3),
        ("W02", "watch_report"): (0, 0, 1), ("W02", "volunteer_shift"): (1, 1, 1),
        ("W02", "all"): (1, 1, 2), ("W05", "recycling"): (1, 1, 1), ("W05", "all"): (1, 1, 1),
        # p-2 volunteers in W01 and W02: the city-wide union counts the person once.
        ("all", "watch_report"): (1, 1, 2), ("all", "volunteer_shift"): (1, 1, 1),
        ("all", "recycling"): (2, 2, 2), ("all", "all"): (4, 4, 5),
    }
    for (area, kind), values in active.items():
        for window, v in zip(W, values):
            put("civicpulse_active_participants", v, area=area, kind=kind, window=window)
    for area, values in {"W01": (1, 2, 3), "W05": (1, 1, 1)}.items():
        for window, v in zip(W, values):
            put("civicpulse_new_participants", v, area=area, window=window)
    for area, values in {"W01": (0, 12600, 12600), "W02": (7200, 7200, 7200),
                         "all": (7200, 19800, 19800)}.items():
        for window, v in zip(W, values):
            put("civicpulse_volunteer_time_seconds", v, area=area, window=window)
    for area, values in {"W01": (4200, 4200, 4200), "W05": (11500, 11500, 11500),
                         "all": (15700, 15700, 15700)}.items():
        for window, v in zip(W, values):
            put("civicpulse_recycled_grams", v, area=area, window=window)
    put("civicpulse_collective_participation_ratio", 0.5, area="W01", window="1h")
    put("civicpulse_collective_participation_ratio", 1.0, area="W02", window="1h")
    put("civicpulse_collective_participation_ratio", 0.5, area="W05", window="1h")
    put("civicpulse_collective_participation_ratio", 0.6, area="all", window="1h")
    put("civicpulse_coproduction_ratio", 1.0, area="W01", window="1h")
    put("civicpulse_coproduction_ratio", 0.0, area="W02", window="1h")
    put("civicpulse_coproduction_ratio", 0.8, area="all", window="1h")
    put("civicpulse_coproduction_ratio", 5 / 6, area="all", window="24h")
    # 1h, city-wide: p-6 has 2 of the 5 events; the top tenth of 4 people is 1 person.
    put("civicpulse_participant_concentration_ratio", 0.4, area="all", window="1h")
    put("civicpulse_participant_concentration_ratio", 1.0, area="W05", window="1h")
    put("civicpulse_coproduction_events_total", 1, area="W02", type="co_design")
    put("civicpulse_coproduction_events_total", 4, area="W01", type="co_delivery")
    put("civicpulse_active_participants_by_age", 1, age_band="65-74", window="1h")
    put("civicpulse_active_participants_by_age", 1, age_band="25-34", window="1h")
    last = (NOW - datetime.timedelta(minutes=10)).timestamp()
    put("civicpulse_last_event_timestamp_seconds", last, area="W05", kind="recycling")
    return exp


def compare(exp, got):
    diffs = []
    for (name, labels), want in sorted(exp.items(), key=str):
        have = got.get((name, labels))
        if have is None or abs(have - want) > 1e-6 * max(1, abs(want)):
            diffs.append("%s%s: want %s, got %s" % (name, dict(labels), want, have))
    return diffs


# --- A brute-force oracle over the same events: every indicator of docs/reference.md on every window.
AGE_BANDS = ("16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+", "unknown")
WINDOWS = (("1h", 3600, 60), ("24h", 86400, 900), ("7d", 7 * 86400, 3600))
LATENESS = 300
INDICATORS = ("civicpulse_events_total", "civicpulse_active_participants",
              "civicpulse_new_participants", "civicpulse_volunteer_time_seconds",
              "civicpulse_recycled_grams", "civicpulse_collective_participation_ratio",
              "civicpulse_coproduction_ratio", "civicpulse_participant_concentration_ratio",
              "civicpulse_coproduction_events_total", "civicpulse_active_participants_by_age",
              "civicpulse_last_event_timestamp_seconds")


def applied_events():
    """The events the engine must apply, in production order, with `is_new` marked: the
    first of each event_id, minus the late one (older than now - 5 min - 1 h grace)."""
    seen, last_seen, out, newest = set(), {}, [], {}
    for area, value in VALID:
        e = json.loads(value)
        t = datetime.datetime.fromisoformat(e["occurred_at"]).timestamp()
        # An area lives in one partition, whose watermark is at least the area's newest
        # applied event - 5 min; the events are chosen far from every other edge.
        if area in newest and t < newest[area] - LATENESS - 3600:
            continue  # late
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        newest[area] = max(newest.get(area, t), t)
        e["t"] = t
        prev = last_seen.get((area, e["participant"]))
        e["is_new"] = prev is None or prev < t - 90 * 86400
        last_seen[(area, e["participant"])] = max(prev or t, t)
        out.append(e)
    return out


def oracle(now):
    """{(name, labels): value} for every indicator series, at wall-clock time `now`
    (every partition idle, so each watermark is now - 5 min)."""
    events = applied_events()
    wm = now - LATENESS
    exp = {}

    def put(name, value, **labels):
        exp[(name, frozenset(labels.items()))] = value

    areas = sorted({e["area"] for e in events})
    kinds = ("watch_report", "volunteer_shift", "recycling")
    for area in areas:
        for kind in kinds:
            mine = [e for e in events if e["area"] == area and e["kind"] == kind]
            if mine:
                put("civicpulse_events_total", len(mine), area=area, kind=kind)
                put("civicpulse_last_event_timestamp_seconds", max(e["t"] for e in mine),
                    area=area, kind=kind)
        for ctype in ("co_commissioning", "co_design", "co_delivery", "co_assessment"):
            n = sum(1 for e in events
                    if e["area"] == area and e.get("coproduction", "co_delivery") == ctype)
            if n:
                put("civicpulse_coproduction_events_total", n, area=area, type=ctype)
    for label, length, width in WINDOWS:
        inside = [e for e in events if wm - length <= (e["t"] // width) * width < wm]
        for area in areas + ["all"]:
            here = [e for e in inside if area in ("all", e["area"])]
            for kind in kinds + ("all",):
                if area != "all" and kind != "all" and not any(
                        e["area"] == area and e["kind"] == kind for e in events):
                    continue  # no state at all for this (area, kind): no series
                people = {e["participant"] for e in here if kind in ("all", e["kind"])}
                put("civicpulse_active_participants", len(people), area=area, kind=kind,
                    window=label)
            put("civicpulse_new_participants",
                len({(e["participant"]) for e in here if e["is_new"]}), area=area,
                window=label)
            put("civicpulse_volunteer_time_seconds",
                sum(e["hours"] * 3600 for e in here if e["kind"] == "volunteer_shift"),
                area=area, window=label)
            put("civicpulse_recycled_grams",
                sum(e["weight_kg"] * 1000 for e in here if e["kind"] == "recycling"),
                area=area, window=label)
            n = len(here)
            collective = sum(1 for e in here if e.get(
                "mode", "individual" if e["kind"] == "recycling" else "collective") ==
                "collective")
            public = sum(1 for e in here if e.get("public_body", True))
            put("civicpulse_collective_participation_ratio", collective / n if n else 0,
                area=area, window=label)
            put("civicpulse_coproduction_ratio", public / n if n else 0, area=area,
                window=label)
            counts = {}
            for e in here:
                counts[e["participant"]] = counts.get(e["participant"], 0) + 1
            top = sorted(counts.values(), reverse=True)[:(len(counts) + 9) // 10]
            put("civicpulse_participant_concentration_ratio", sum(top) / n if n else 0,
                area=area, window=label)
        for band in AGE_BANDS:
            people = {e["participant"] for e in inside if "age_band" in e and
                      (e["age_band"] if e["age_band"] in AGE_BANDS else "unknown") == band}
            put("civicpulse_active_participants_by_age", len(people), age_band=band,
                window=label)
    return exp


def compare_all(exp, got):
    """Every oracle series must be served with its exact value, and every served indicator
    series must be in the oracle or be 0 (an (area, kind) without events in a window)."""
    diffs = compare(exp, got)
    for (name, labels), value in sorted(got.items(), key=str):
        if name in INDICATORS and (name, labels) not in exp and value != 0:
            diffs.append("%s%s: unexpected %s" % (name, dict(labels), value))
    return diffs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    args = parser.parse_args()
    stack = Stack(args.bin_dir, partitions=4)
    ok = False
    try:
        brokers = stack.start_broker()
        agg_ports = [free_port(), free_port()]
        exporter_port = free_port()
        for i, port in enumerate(agg_ports):
            stack.start("aggregator-%d" % i, "civicpulse-aggregator",
                        ["--brokers", brokers, "--listen", "127.0.0.1:%d" % port,
                         "--idle-timeout", "2s", "--flush-interval", "500ms",
                         "--instance-id", "agg-%d" % i])
        stack.start("exporter", "civicpulse-exporter",
                    ["--listen", "127.0.0.1:%d" % exporter_port, "--merge-interval", "500ms"],
                    env={"CIVICPULSE_BROKERS": brokers})
        # Both aggregators own partitions before the data arrives: a rebalance afterwards
        # would make the new owner re-read its partitions from the start, which keeps the
        # indicators exact but counts those records' outcomes in both processes.
        deadline = time.time() + 60
        while True:
            owned = []
            for port in agg_ports:
                try:
                    owned.append(sample(parse_metrics(scrape(port)),
                                        "civicpulse_aggregator_assigned_partitions") or 0)
                except OSError:
                    owned.append(0)
            if all(owned) and sum(owned) == stack.partitions:
                break
            if time.time() > deadline:
                print("the aggregators never shared the %d partitions: %s" %
                      (stack.partitions, owned))
                return 1
            time.sleep(0.2)
        stack.produce("civicpulse.events.v1",
                      VALID + [("W01" if i % 2 else "W05", v) for i, (v, _) in
                               enumerate(INVALID)])

        exp = expected()
        deadline = time.time() + 120
        diffs = ["no scrape yet"]
        while time.time() < deadline:
            try:
                now = time.time()
                got = parse_metrics(scrape(exporter_port))
                # The hand-worked values above, then the oracle's every series.
                diffs = compare(exp, got) or compare_all(oracle(now), got)
            except OSError as e:
                diffs = ["scrape failed: %s" % e]
            if not diffs:
                break
            time.sleep(1)
        if diffs:
            print("exporter metrics differ from the exact expectation:\n  " +
                  "\n  ".join(diffs))
            return 1

        outcomes = {}
        for port in agg_ports:
            m = parse_metrics(scrape(port))
            for outcome in ("applied", "duplicate", "late", "invalid"):
                outcomes[outcome] = outcomes.get(outcome, 0) + (sample(
                    m, "civicpulse_aggregator_events_total", outcome=outcome) or 0)
        want_outcomes = {"applied": len(VALID) - 2, "duplicate": 1, "late": 1, "invalid": len(INVALID)}
        if outcomes != want_outcomes:
            print("aggregator outcomes: want %s, got %s" % (want_outcomes, outcomes))
            return 1

        dlq = stack.consume("civicpulse.events.dlq.v1")
        got_dlq = sorted((v, h.get("error")) for _, v, h in dlq)
        want_dlq = sorted(INVALID)
        if got_dlq != want_dlq:
            print("DLQ differs:\n  want %s\n  got  %s" % (want_dlq, got_dlq))
            return 1
        for _, _, headers in dlq:
            if not headers.get("error-detail"):
                print("DLQ record without error-detail: %s" % headers)
                return 1
        # Every /metrics page passes Prometheus' own linter.
        for port in agg_ports + [exporter_port]:
            lint = subprocess.run(["promtool", "check", "metrics"], input=scrape(port).encode(),
                                  capture_output=True, timeout=30)
            if lint.returncode != 0:
                print("promtool check metrics failed on :%d:\n%s%s" %
                      (port, lint.stdout.decode(), lint.stderr.decode()))
                return 1
        print("e2e pipeline: %d hand-worked and %d oracle indicator values exact, outcomes %s,"
              " %d DLQ records: OK" % (len(exp), len(oracle(time.time())), outcomes, len(dlq)))
        ok = True
        return 0
    finally:
        stack.stop_all()
        if not ok:
            print(stack.logs())


if __name__ == "__main__":
    sys.exit(main())
