#!/usr/bin/env python3
"""Writes the three civicpulse Grafana dashboards (current JSON model, schemaVersion 39):

    civicpulse-participation.json  who takes part, where and how (the indicators)
    civicpulse-drops.json          observed participation against its seasonal expectation
    civicpulse-pipeline.json       is it the pipeline or the people?

    dashboards/make_dashboards.py           # rewrite the JSON files
    dashboards/make_dashboards.py --check   # exit 1 if one is out of date

Panels are declared once here, so that every one gets what the dashboard linter asks for
(unit, description, the datasource variable, job and instance matchers, $__rate_interval);
tests/dashboards/dashboard_lint_test.py enforces it on the JSON. Edit this file, not the JSON.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
SCOPE = 'job=~"$job",instance=~"$instance"'
RATE = "[$__rate_interval]"


def q(metric, matchers=""):
    """A selector of `metric` scoped to the dashboard's job and instance variables."""
    return "%s{%s%s}" % (metric, SCOPE, "," + matchers if matchers else "")


def target(expr, legend, ref="A", instant=False, fmt=None):
    t = {"refId": ref, "datasource": DS, "expr": expr, "legendFormat": legend,
         "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def panel(kind, title, description, unit, targets, w=12, h=8, overrides=(), options=None,
          min_value=None, max_value=None, thresholds=None):
    defaults = {"unit": unit}
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
    if kind == "timeseries":
        defaults["custom"] = {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    return {"type": kind, "title": title, "description": description, "datasource": DS,
            "targets": targets, "fieldConfig": {"defaults": defaults,
                                                 "overrides": list(overrides)},
            "options": options or {}, "_w": w, "_h": h}


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def dashed(ref, color):
    return {"matcher": {"id": "byFrameRefID", "options": ref},
            "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                           {"id": "color", "value": {"mode": "fixed", "fixedColor": color}}]}


def layout(items):
    """Assigns ids and grid positions left to right, top to bottom."""
    x = y = row_h = 0
    out = []
    for i, item in enumerate(items, start=1):
        w, h = item.pop("_w"), item.pop("_h")
        if x + w > 24 or item["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        item["id"] = i
        item["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        out.append(item)
        x += w
        row_h = max(row_h, h)
        if item["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return out


def query_var(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query,
            "refresh": 2, "includeAll": multi, "multi": multi, "allValue": ".*" if multi else None,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
            "options": [], "sort": 1, "hide": 0, "regex": ""}


def variables(area_metric, extra=()):
    return [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "options": [], "refresh": 1, "hide": 0,
         "regex": ""},
        query_var("job", "Job", 'label_values(up{job=~"civicpulse-.*"}, job)'),
        query_var("instance", "Instance", 'label_values(up{job=~"$job"}, instance)'),
        query_var("area", "Area", "label_values(%s, area)" % q(area_metric)),
        query_var("kind", "Kind", "label_values(%s, kind)" % q(area_metric, 'area=~"$area"')),
    ] + list(extra)


def dashboard(uid, title, description, panels, area_metric, extra_vars=(), time_from="now-24h"):
    return {
        "uid": uid, "title": title, "description": description, "tags": ["civicpulse"],
        "editable": False, "graphTooltip": 1, "timezone": "browser", "schemaVersion": 39,
        "version": 1, "refresh": "30s", "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "civicpulse", "type": "dashboards", "tags": ["civicpulse"],
                   "asDropdown": False, "includeVars": True, "keepTime": True}],
        "templating": {"list": variables(area_metric, extra_vars)},
        "panels": layout(panels),
    }


WINDOW = {"name": "window", "label": "Window", "type": "custom", "query": "1h,24h,7d",
          "current": {"selected": True, "text": "24h", "value": "24h"}, "hide": 0,
          "includeAll": False, "multi": False,
          "options": [{"text": w, "value": w, "selected": w == "24h"} for w in ("1h", "24h", "7d")]}


def participation():
    aw = 'area=~"$area",window="$window"'
    return dashboard(
        "civicpulse-participation", "civicpulse: participation in co-produced services",
        "Who takes part in co-produced public services, where and how, over trailing "
        "event-time windows (1h, 24h, 7d).",
        [
            row("Participation"),
            panel("stat", "Collective participation share (headline)",
                  "Events with mode=collective / all events over the window: the valuable, "
                  "fragile part of co-production.", "percentunit",
                  [target(q("civicpulse_collective_participation_ratio", aw), "{{area}}")], w=8),
            panel("timeseries", "Active participants",
                  "Distinct people over the trailing window, all activities (exact below 1000, "
                  "within 2% above).", "short",
                  [target(q("civicpulse_active_participants", aw + ',kind="all"'), "{{area}}")],
                  w=8),
            panel("timeseries", "Reach: active participants per 1000 residents",
                  "Distinct people per 1000 residents of the area (needs the areas file, "
                  "civicpulse_area_residents).", "short",
                  [target("1000 * %s / on (area, job, instance) %s"
                          % (q("civicpulse_active_participants", aw + ',kind="all"'),
                             q("civicpulse_area_residents", 'area=~"$area"')), "{{area}}")], w=8),
            panel("timeseries", "Active participants by kind",
                  "Distinct people per activity over the trailing window.", "short",
                  [target(q("civicpulse_active_participants",
                            aw + ',kind=~"$kind",kind!="all"'), "{{area}} {{kind}}")]),
            panel("timeseries", "New participants (first seen in 90 days)",
                  "People whose first event in the area in 90 days falls in the window.",
                  "short", [target(q("civicpulse_new_participants", aw), "{{area}}")]),
            panel("timeseries", "Events per second by kind",
                  "Rate of applied events by activity (processing time: a backfill shows as a "
                  "burst).", "eps",
                  [target("sum by (kind) (rate(%s%s))"
                          % (q("civicpulse_events_total", 'area=~"$area",kind=~"$kind"'), RATE),
                          "{{kind}}")]),
            panel("timeseries", "Co-production by type (events per second)",
                  "Rate of applied events by type of co-production (Bovaird and Loeffler).",
                  "eps",
                  [target("sum by (type) (rate(%s%s))"
                          % (q("civicpulse_coproduction_events_total", 'area=~"$area"'), RATE),
                          "{{type}}")]),
            row("Value given"),
            panel("timeseries", "Volunteer time",
                  "Hours given in volunteer shifts over the window (time-bank credits).", "s",
                  [target(q("civicpulse_volunteer_time_seconds", aw), "{{area}}")]),
            panel("timeseries", "Recycled",
                  "Kilograms recycled over the window.", "masskg",
                  [target(q("civicpulse_recycled_grams", aw) + " / 1000", "{{area}}")]),
            panel("timeseries", "Co-production share (public body involved)",
                  "Events with a public body involved / all events: co-production against "
                  "self-organising civil society.", "percentunit",
                  [target(q("civicpulse_coproduction_ratio", aw), "{{area}}")],
                  min_value=0, max_value=1),
            panel("timeseries", "Concentration: share of events by the most active tenth",
                  "Share of events made by the most active 10% of participants: high means "
                  "participation rests on a few 'usual suspects'.", "percentunit",
                  [target(q("civicpulse_participant_concentration_ratio", aw), "{{area}}")],
                  min_value=0, max_value=1),
            panel("timeseries", "Active participants by age band (city-wide)",
                  "Distinct people city-wide by age band, among events that carry one.",
                  "short",
                  [target(q("civicpulse_active_participants_by_age", 'window="$window"'),
                          "{{age_band}}")], w=24),
        ],
        "civicpulse_active_participants", extra_vars=[WINDOW])


def drops():
    ak = 'area=~"$area",kind=~"$kind"'
    h1 = ak + ',window="1h"'
    expected = q("civicpulse_expected_events", h1)
    observed = "%s * %s" % (q("civicpulse_participation_ratio", h1), expected)
    return dashboard(
        "civicpulse-drops", "civicpulse: drops against the seasonal expectation",
        "Observed participation against civicpulse's seasonal expectation (same hour of the "
        "week, previous weeks) per area and kind, and the participation alerts.",
        [
            row("Firing participation alerts"),
            panel("table", "Participation alerts",
                  "Participation alerts pending or firing for the selected areas and kinds "
                  "(ALERTS). None fire while the pipeline is unhealthy: see the Pipeline health "
                  "dashboard.", "short",
                  [target('ALERTS{category="participation",%s,%s}' % (SCOPE, ak), "",
                          instant=True, fmt="table")], w=24, h=6),
            row("Last hour against the expectation"),
            panel("timeseries", "Events in the last hour: observed and expected band",
                  "Observed events in the trailing hour (solid), the expectation for this hour "
                  "of the week (green, dashed) and the Poisson band expected +- 3.5 sqrt(expected): "
                  "below its bottom (red, dashed) the drop alert's short window holds. The band "
                  "only matters where at least 20 events are expected.", "short",
                  [target(observed, "observed {{area}} {{kind}}", "A"),
                   target(expected, "expected {{area}} {{kind}}", "B"),
                   target("clamp_min(%s - 3.5 * sqrt(%s), 0)" % (expected, expected),
                          "alert below {{area}} {{kind}}", "C"),
                   target("%s + 3.5 * sqrt(%s)" % (expected, expected),
                          "band top {{area}} {{kind}}", "D")],
                  w=24, h=10,
                  overrides=[dashed("B", "green"), dashed("C", "red"), dashed("D", "text")],
                  min_value=0),
            panel("timeseries", "Participation ratio (observed / expected)",
                  "Observed events over expected events in each window. 1 is usual for the "
                  "time of week; the drop alert needs under 0.8 in the last hour.",
                  "percentunit",
                  [target(q("civicpulse_participation_ratio", ak), "{{area}} {{kind}} {{window}}")],
                  min_value=0, thresholds=[{"color": "red", "value": None},
                                           {"color": "green", "value": 0.8}]),
            panel("timeseries", "Participation ratio over the last 3 hours",
                  "The drop alert's long window: observed / expected over the last three "
                  "hours (recording rule civicpulse:participation_ratio:3h); the alert needs "
                  "under 0.9.", "percentunit",
                  [target('civicpulse:participation_ratio:3h{%s,%s}' % (SCOPE, ak),
                          "{{area}} {{kind}}")],
                  min_value=0, thresholds=[{"color": "red", "value": None},
                                           {"color": "green", "value": 0.9}]),
            row("People and history"),
            panel("timeseries", "Active participants: observed and expected (last hour)",
                  "Distinct people in the trailing hour (solid) against the expectation for "
                  "this hour of the week (dashed).", "short",
                  [target(q("civicpulse_active_participants", h1), "observed {{area}} {{kind}}",
                          "A"),
                   target(q("civicpulse_expected_active_participants", h1),
                          "expected {{area}} {{kind}}", "B")],
                  overrides=[dashed("B", "green")], min_value=0),
            panel("timeseries", "Events in the last 24 hours: observed and expected",
                  "The day-long view: observed (solid) and expected (dashed) events in the "
                  "trailing 24 hours.", "short",
                  [target("%s * %s" % (q("civicpulse_participation_ratio", ak + ',window="24h"'),
                                       q("civicpulse_expected_events", ak + ',window="24h"')),
                          "observed {{area}} {{kind}}", "A"),
                   target(q("civicpulse_expected_events", ak + ',window="24h"'),
                          "expected {{area}} {{kind}}", "B")],
                  overrides=[dashed("B", "green")], min_value=0),
            panel("table", "Expectation ready",
                  "1 once 3 previous weeks of history exist for the area and kind; drop and "
                  "silence alerts wait for it.", "bool_yes_no",
                  [target(q("civicpulse_baseline_ready", ak), "", instant=True, fmt="table")],
                  w=24, h=6),
        ],
        "civicpulse_expected_events", time_from="now-2d")


def pipeline():
    by_inst = "sum by (instance) (rate(%s%s))"
    return dashboard(
        "civicpulse-pipeline", "civicpulse: pipeline health",
        "Is it the pipeline or the people? Input against consumption, lag, watermarks, "
        "dead letters and late events, per instance.",
        [
            row("Throughput"),
            panel("timeseries", "Input rate against consumed rate",
                  "Records accepted by the ingest gateway (other producers write to Kafka "
                  "directly and are not counted here) against records consumed by the "
                  "aggregators, all outcomes. Consumption below input for long means lag grows.",
                  "recps",
                  [target("sum(rate(%s%s))" % (q("civicpulse_ingest_events_total",
                                                 'outcome="accepted",kind=~"$kind"'), RATE),
                          "input (ingest accepted)", "A"),
                   target("sum(rate(%s%s))" % (q("civicpulse_aggregator_events_total"), RATE),
                          "consumed (aggregators)", "B")]),
            panel("timeseries", "Consumed rate by instance and outcome",
                  "Events consumed per aggregator instance by outcome: applied, duplicate, "
                  "late, invalid.", "eps",
                  [target("sum by (instance, outcome) (rate(%s%s))"
                          % (q("civicpulse_aggregator_events_total"), RATE),
                          "{{instance}} {{outcome}}")]),
            row("Keeping up"),
            panel("timeseries", "Consumer lag (records)",
                  "Records of owned partitions not consumed yet, per instance and topic.",
                  "short",
                  [target("sum by (instance, topic) (%s)" % q("civicpulse_consumer_lag_records"),
                          "{{instance}} {{topic}}")], w=8),
            panel("timeseries", "Consumer lag (seconds)",
                  "Age of the oldest unconsumed record, worst partition per instance and topic; "
                  "CivicpulseConsumerLagHigh fires above 5 minutes.", "s",
                  [target("max by (instance, topic) (%s)" % q("civicpulse_consumer_lag_seconds"),
                          "{{instance}} {{topic}}")], w=8,
                  thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 300}]),
            panel("timeseries", "Watermark delay",
                  "Wall clock minus the lowest event-time watermark per aggregator; about 5 min "
                  "(the allowed lateness) when healthy, alert above 15 min.", "s",
                  [target(q("civicpulse_aggregator_watermark_delay_seconds"), "{{instance}}")],
                  w=8, thresholds=[{"color": "green", "value": None},
                                   {"color": "red", "value": 900}]),
            row("Rejected and late"),
            panel("timeseries", "Dead-letter rate",
                  "Records sent to civicpulse.events.dlq.v1: rejected by the ingest gateway "
                  "(by source) and invalid at the aggregators (by instance).", "recps",
                  [target("sum by (source) (rate(%s%s))"
                          % (q("civicpulse_ingest_events_total",
                               'outcome="rejected",kind=~"$kind"'), RATE),
                          "ingest {{source}}", "A"),
                   target(by_inst % (q("civicpulse_aggregator_events_total", 'outcome="invalid"'),
                                     RATE), "aggregator {{instance}}", "B")], w=8),
            panel("timeseries", "Late and invalid share",
                  "Share of consumed events that were late (older than watermark - 1h grace, "
                  "not applied; alert above 2%) or invalid (alert above 5%), per instance.",
                  "percentunit",
                  [target("sum by (instance, outcome) (rate(%s%s)) / on (instance) group_left "
                          "sum by (instance) (rate(%s%s))"
                          % (q("civicpulse_aggregator_events_total", 'outcome=~"late|invalid"'),
                             RATE, q("civicpulse_aggregator_events_total"), RATE),
                          "{{instance}} {{outcome}}")], w=8, min_value=0),
            panel("timeseries", "Ingest rejections by reason",
                  "Records the ingest gateway rejected, by reason code (the DLQ header "
                  "`error`).", "recps",
                  [target("sum by (reason) (rate(%s%s))"
                          % (q("civicpulse_ingest_rejected_events_total"), RATE), "{{reason}}")],
                  w=8),
            row("Services"),
            panel("timeseries", "Time since the exporter last merged",
                  "Seconds since each exporter recomputed the indicators (every second when "
                  "healthy); CivicpulseExporterStale fires above 2 minutes.", "s",
                  [target("time() - %s" % q("civicpulse_exporter_last_merge_timestamp_seconds"),
                          "{{instance}}")], w=8,
                  thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 120}]),
            panel("timeseries", "Targets up",
                  "1 while Prometheus scrapes the target; no civicpulse-exporter or "
                  "civicpulse-aggregator target up raises the Absent alerts.", "bool_yes_no",
                  [target("up{%s}" % SCOPE, "{{job}} {{instance}}")], w=8),
            panel("timeseries", "Time since the last event by area and kind",
                  "Wall clock minus the newest event time applied per area and kind. A quiet "
                  "ward at night is normal here: silence is judged against the expectation "
                  "(Drops dashboard).", "s",
                  [target("time() - %s" % q("civicpulse_last_event_timestamp_seconds",
                                            'area=~"$area",kind=~"$kind"'),
                          "{{area}} {{kind}}")], w=8),
            panel("table", "Pipeline alerts",
                  "Pipeline alerts pending or firing (ALERTS); while any condition holds, "
                  "participation alerts are suppressed.", "short",
                  [target('ALERTS{category="pipeline"}', "", instant=True, fmt="table")],
                  w=24, h=6),
        ],
        "civicpulse_last_event_timestamp_seconds", time_from="now-6h")


def render():
    return {"civicpulse-participation.json": participation(), "civicpulse-drops.json": drops(),
            "civicpulse-pipeline.json": pipeline()}


def main():
    stale = []
    for name, board in render().items():
        text = json.dumps(board, indent=2) + "\n"
        path = os.path.join(HERE, name)
        if sys.argv[1:] == ["--check"]:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date (run dashboards/make_dashboards.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
