#!/usr/bin/env python3
"""End-to-end from HTTP: ingest -> Kafka -> aggregator -> exporter, with pseudonymised people.

Starts the broker, civicpulse-ingest (demo key, Open311 mapping of San Francisco), one
aggregator and the exporter. Posts NDJSON events of named people (one person twice), a CSV
import, an invalid record and the real San Francisco Open311 sample (anonymous reports);
then checks the exporter's exact values: pseudonymised people still count once each, Open311
reports count as events but never as participants, the invalid record is in the DLQ and was
never applied, and no raw participant id is anywhere on the topics.
"""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from stack import Stack, free_port, parse_metrics, sample, scrape  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SF_SAMPLE = os.path.join(ROOT, "tests", "integration", "testdata", "sf-311-requests-2011.json")
SF_CONFIG = os.path.join(ROOT, "services", "ingest", "open311-sf.json")
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def ago(minutes):
    return (NOW - datetime.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def post(port, path, body, content_type):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body.encode(),
                                 headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


RAW_IDS = ["alice.smith@example.org", "bob-4711", "carol-0099"]
NDJSON = "\n".join(json.dumps(e) for e in [
    {"event_id": "h1", "kind": "watch_report", "participant": RAW_IDS[0], "area": "W01",
     "occurred_at": ago(30)},
    {"event_id": "h2", "kind": "volunteer_shift", "participant": RAW_IDS[0], "area": "W01",
     "occurred_at": ago(20), "hours": 2},
    {"event_id": "h3", "kind": "watch_report", "participant": RAW_IDS[1], "area": "W01",
     "occurred_at": ago(10)},
    {"event_id": "h4", "kind": "watch_report", "participant": RAW_IDS[2], "area": "W01",
     "occurred_at": ago(10), "hours": "lots"},  # fine: hours is ignored for reports
    {"event_id": "bad", "kind": "recycling", "participant": RAW_IDS[2], "area": "W01",
     "occurred_at": ago(10), "weight_kg": -1},  # invalid: out_of_range
]) + "\n"
CSV = ("participant,area,occurred_at,weight_kg,material\n"
       "%s,W02,%s,2.5,glass\n%s,W02,%s,1.5,paper\n" % (RAW_IDS[1], ago(15), RAW_IDS[1], ago(5)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    args = parser.parse_args()
    stack = Stack(args.bin_dir, partitions=4)
    ok = False
    try:
        brokers = stack.start_broker()
        ingest_port, agg_port, exp_port = free_port(), free_port(), free_port()
        env = {"CIVICPULSE_BROKERS": brokers}
        stack.start("ingest", "civicpulse-ingest",
                    ["--listen", "127.0.0.1:%d" % ingest_port, "--demo",
                     "--open311-config", SF_CONFIG], env=env)
        stack.start("aggregator", "civicpulse-aggregator",
                    ["--listen", "127.0.0.1:%d" % agg_port, "--idle-timeout", "2s",
                     "--flush-interval", "500ms"], env=env)
        stack.start("exporter", "civicpulse-exporter",
                    ["--listen", "127.0.0.1:%d" % exp_port, "--merge-interval", "500ms"],
                    env=env)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % ingest_port, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

        # The 2011 backfill first (newest-first, as requests.json lists it: ingest produces
        # it in event-time order, so none of it is late); live events after it.
        sf = open(SF_SAMPLE).read()
        sf_count = len(json.loads(sf))
        status, body = post(ingest_port, "/v1/open311/requests", sf, "application/json")
        if status != 202 or body["accepted"] != sf_count or body["rejected"] != 0:
            print("Open311: want 202 with %d accepted; got %s %s" % (sf_count, status, body))
            return 1
        status, body = post(ingest_port, "/v1/events", NDJSON, "application/x-ndjson")
        if status != 202 or body["accepted"] != 4 or body["rejected"] != 1:
            print("NDJSON: want 202 with 4 accepted, 1 rejected; got %s %s" % (status, body))
            return 1
        status, body = post(ingest_port, "/v1/imports/csv?kind=recycling", CSV, "text/csv")
        if status != 202 or body["accepted"] != 2:
            print("CSV: want 202 with 2 accepted; got %s %s" % (status, body))
            return 1

        want = {
            ("civicpulse_active_participants", "W01", "all", "1h"): 3,
            ("civicpulse_active_participants", "W01", "watch_report", "1h"): 3,
            ("civicpulse_active_participants", "W01", "volunteer_shift", "1h"): 1,
            ("civicpulse_active_participants", "W02", "recycling", "1h"): 1,
            # bob-4711 reports in W01 and recycles in W02: one person city-wide.
            ("civicpulse_active_participants", "all", "all", "1h"): 3,
            ("civicpulse_active_participants", "all", "recycling", "1h"): 1,
            ("civicpulse_events_total", "W01", "watch_report", None): 3,
            ("civicpulse_events_total", "W01", "volunteer_shift", None): 1,
            ("civicpulse_events_total", "W02", "recycling", None): 2,
        }
        deadline = time.time() + 60
        diffs = ["no scrape yet"]
        while time.time() < deadline:
            got = parse_metrics(scrape(exp_port))
            diffs = []
            for (name, area, kind, window), value in want.items():
                labels = {"area": area, "kind": kind}
                if window:
                    labels["window"] = window
                have = sample(got, name, **labels)
                if have != value:
                    diffs.append("%s%s: want %s, got %s" % (name, labels, value, have))
            # Every Open311 report is an event (SF areas), none is a participant.
            sf_events = sum(v for (n, labels), v in got.items()
                            if n == "civicpulse_events_total" and
                            dict(labels)["area"].startswith("SF"))
            if sf_events != sf_count:
                diffs.append("SF events: want %d, got %s" % (sf_count, sf_events))
            sf_people = sum(v for (n, labels), v in got.items()
                            if n == "civicpulse_active_participants" and
                            dict(labels)["area"].startswith("SF"))
            if sf_people != 0:
                diffs.append("SF participants: want 0, got %s" % sf_people)
            if not diffs:
                break
            time.sleep(1)
        if diffs:
            print("exporter differs:\n  " + "\n  ".join(diffs))
            return 1
        agg = parse_metrics(scrape(agg_port))
        applied = sample(agg, "civicpulse_aggregator_events_total", outcome="applied")
        if applied != 6 + sf_count:
            print("aggregator applied: want %d, got %s" % (6 + sf_count, applied))
            return 1

        dlq = stack.consume("civicpulse.events.dlq.v1")
        if [h.get("error") for _, _, h in dlq] != ["out_of_range"]:
            print("DLQ: want one out_of_range record, got %s" % dlq)
            return 1
        for topic in ("civicpulse.events.v1", "civicpulse.events.dlq.v1",
                      "civicpulse.aggregates.v1"):
            blob = stack.dump(topic)
            if len(blob) < 100:
                print("%s is unexpectedly empty" % topic)
                return 1
            for raw in RAW_IDS:
                if raw.encode() in blob:
                    print("raw participant id %r found on %s" % (raw, topic))
                    return 1
        print("ingest pipeline: exact values, %d Open311 reports anonymous, no raw ids: OK"
              % sf_count)
        ok = True
        return 0
    finally:
        stack.stop_all()
        if not ok:
            print(stack.logs())


if __name__ == "__main__":
    sys.exit(main())
