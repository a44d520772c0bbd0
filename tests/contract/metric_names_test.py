#!/usr/bin/env python3
"""Dashboards and alert rules use only metric names of the design contract.

A renamed metric must change together with every dashboard and rule that reads it; this test
fails when a query names a civicpulse_ metric the contract does not define.
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dashboards  # noqa: E402
import rules  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

CONTRACT = {
    # Indicators (exporter).
    "civicpulse_events_total", "civicpulse_active_participants", "civicpulse_new_participants",
    "civicpulse_volunteer_time_seconds", "civicpulse_recycled_grams",
    "civicpulse_collective_participation_ratio", "civicpulse_coproduction_ratio",
    "civicpulse_participant_concentration_ratio", "civicpulse_coproduction_events_total",
    "civicpulse_active_participants_by_age", "civicpulse_area_residents",
    # Seasonal expectation (exporter).
    "civicpulse_expected_events", "civicpulse_expected_active_participants",
    "civicpulse_participation_ratio", "civicpulse_baseline_ready",
    # Pipeline health.
    "civicpulse_aggregator_events_total", "civicpulse_aggregator_watermark_delay_seconds",
    "civicpulse_consumer_lag_records", "civicpulse_consumer_lag_seconds",
    "civicpulse_last_event_timestamp_seconds", "civicpulse_ingest_events_total",
    "civicpulse_ingest_rejected_events_total", "civicpulse_exporter_last_merge_timestamp_seconds",
}

NAME = re.compile(r"\bcivicpulse_[a-z0-9_]+")


def exprs():
    """(path, text) of every query of the dashboards and every expression and annotation of
    the rules (annotations query too)."""
    for path in glob.glob(os.path.join(ROOT, "dashboards", "*.json")):
        dashboard = json.load(open(path))
        for panel in dashboards.panels(dashboard):
            for target in panel.get("targets", []):
                yield path, target["expr"]
        for variable in dashboard.get("templating", {}).get("list", []):
            yield path, json.dumps(variable.get("query", ""))
    for path, rule in rules.rules():
        yield path, rule["expr"]
        for text in rule.get("annotations", {}).values():
            yield path, text


def main():
    bad = []
    count = 0
    for path, expr in exprs():
        for name in NAME.findall(expr):
            count += 1
            if name not in CONTRACT:
                bad.append("%s: %s" % (os.path.relpath(path, ROOT), name))
    if bad:
        print("metric names outside the design contract:\n  " + "\n  ".join(sorted(set(bad))))
        return 1
    if count == 0:
        print("no metric names found: the test is not reading the dashboards or rules")
        return 1
    print("%d metric references, all in the contract" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
