#!/usr/bin/env python3
"""The alert rules follow the monitoring-mixins guidelines and civicpulse's own promises.

- every alert has `for:`, a `severity` and a `category` (pipeline | participation), and
  `summary`, `description` and a `runbook_url` to an existing page docs/runbooks/<alert>.md
  with the sections every runbook has;
- participation descriptions state observed, expected and the ratio;
- every participation alert is suppressed by `civicpulse:pipeline_degraded`, and that rule ORs
  exactly the expressions of the pipeline alerts (so a new pipeline alert cannot be forgotten);
- every alert has promtool cases both firing and not firing;
- weeks_test.yml is what make_weeks_test.py writes.
"""
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import rules as r  # noqa: E402

RUNBOOK_SECTIONS = ["## Meaning", "## Impact", "## Pipeline fault or real change?", "## Steps"]
SEVERITIES = {"warning", "critical"}
SUPPRESSION = "unless on () civicpulse:pipeline_degraded"


def check_alert(rule, errors):
    name = rule["alert"]
    labels = rule.get("labels", {})
    notes = rule.get("annotations", {})
    if "for" not in rule:
        errors.append("%s: no `for:`" % name)
    if labels.get("severity") not in SEVERITIES:
        errors.append("%s: severity must be one of %s" % (name, sorted(SEVERITIES)))
    if labels.get("category") not in ("pipeline", "participation"):
        errors.append("%s: category must be pipeline or participation" % name)
    for key in ("summary", "description", "runbook_url"):
        if not notes.get(key, "").strip():
            errors.append("%s: no %s annotation" % (name, key))
    url = notes.get("runbook_url", "")
    if not url.endswith("/docs/runbooks/%s.md" % name):
        errors.append("%s: runbook_url must point at docs/runbooks/%s.md" % (name, name))
    page = os.path.join(r.ROOT, "docs", "runbooks", name + ".md")
    if not os.path.exists(page):
        errors.append("%s: %s does not exist" % (name, os.path.relpath(page, r.ROOT)))
    else:
        text = open(page).read()
        for section in RUNBOOK_SECTIONS:
            if section not in text:
                errors.append("%s: runbook has no '%s' section" % (name, section))
    if labels.get("category") == "participation":
        description = notes.get("description", "")
        for word in ("observed", "expected", "ratio"):
            if word not in description:
                errors.append("%s: description does not state the %s value" % (name, word))
        if not r.squeeze(rule["expr"]).endswith(SUPPRESSION):
            errors.append("%s: expr must end with `%s`" % (name, SUPPRESSION))


def check_suppression(alerts, errors):
    degraded = r.squeeze(r.recording("civicpulse:pipeline_degraded")["expr"])
    pipeline = [rule for _, rule in alerts if rule.get("labels", {}).get("category") == "pipeline"]
    for rule in pipeline:
        if "(%s)" % r.squeeze(rule["expr"]) not in degraded:
            errors.append("civicpulse:pipeline_degraded lacks the condition of %s: (%s)"
                          % (rule["alert"], r.squeeze(rule["expr"])))
    terms = len(re.findall(r"(?:^count\( |\) or )\(", degraded))
    if terms != len(pipeline):
        errors.append("civicpulse:pipeline_degraded has %d terms for %d pipeline alerts"
                      % (terms, len(pipeline)))


def check_promtool_cases(alerts, errors):
    firing, quiet = set(), set()
    for path in sorted(__import__("glob").glob(r.RULE_TESTS_GLOB)):
        with open(path) as f:
            for test in yaml.safe_load(f)["tests"]:
                for case in test.get("alert_rule_test", []):
                    (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    for _, rule in alerts:
        if rule["alert"] not in firing:
            errors.append("%s: no promtool case where it fires" % rule["alert"])
        if rule["alert"] not in quiet:
            errors.append("%s: no promtool case where it does not fire" % rule["alert"])


def check_generated_weeks(errors):
    tests_dir = os.path.join(r.ROOT, "deploy", "prometheus", "tests")
    made = subprocess.run([sys.executable, os.path.join(tests_dir, "make_weeks_test.py")],
                          check=True, capture_output=True, text=True).stdout
    if made != open(os.path.join(tests_dir, "weeks_test.yml")).read():
        errors.append("weeks_test.yml differs from make_weeks_test.py's output: regenerate it")


def main():
    errors = []
    alerts = r.alerts()
    names = [rule["alert"] for _, rule in alerts]
    if len(names) != len(set(names)):
        errors.append("duplicate alert names")
    for _, rule in alerts:
        check_alert(rule, errors)
    check_suppression(alerts, errors)
    check_promtool_cases(alerts, errors)
    check_generated_weeks(errors)
    if errors:
        print("\n".join(errors))
        return 1
    print("%d alerts: annotations, runbooks, suppression and promtool cases in order" % len(alerts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
