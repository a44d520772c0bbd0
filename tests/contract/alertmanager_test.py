#!/usr/bin/env python3
"""deploy/alertmanager/alertmanager.yml is valid and does what the runbooks say.

- `amtool check-config` accepts it (Debian's prometheus-alertmanager provides amtool; the test
  says so and goes on when it is missing);
- every alert of the rules reaches a receiver: participation alerts through a route muted on
  `holidays`, pipeline alerts through one that is never muted;
- `holidays` covers the holiday of the promtool cases (1970-01-01, weeks_test.yml) and
  Christmas, and not the ordinary days after them;
- a pipeline alert inhibits every participation alert.
Route matching and time intervals are evaluated here for the subset of Alertmanager's
syntax the file uses (equality and regex matchers; years, months, days of month).
"""
import datetime
import os
import re
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import rules as r  # noqa: E402

CONFIG = os.path.join(r.ROOT, "deploy", "alertmanager", "alertmanager.yml")
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def matches(matchers, labels):
    for text in matchers:
        m = MATCHER.match(text)
        if not m:
            raise ValueError("matcher syntax this test does not read: %r" % text)
        name, op, value = m.groups()
        have = labels.get(name, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None,
              "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


def route(node, labels, inherited_receiver=None):
    """The receiver and mute intervals of the first matching leaf (the file uses no
    `continue`). Receivers are inherited by child routes; mute intervals are not."""
    receiver = node.get("receiver", inherited_receiver)
    for child in node.get("routes", []):
        if matches(child.get("matchers", []), labels):
            return route(child, labels, receiver)
    return receiver, tuple(node.get("mute_time_intervals", []))


def in_range(spec_list, value, parse=int):
    for spec in spec_list:
        lo, _, hi = str(spec).partition(":")
        if parse(lo) <= value <= parse(hi or lo):
            return True
    return False


def muted_on(interval, day):
    for t in interval["time_intervals"]:
        if "years" in t and not in_range(t["years"], day.year):
            continue
        if "months" in t and not in_range(t["months"], day.month,
                                          lambda m: MONTHS.index(m) + 1 if m in MONTHS else int(m)):
            continue
        if "days_of_month" in t and not in_range(t["days_of_month"], day.day):
            continue
        return True
    return False


def main():
    errors = []
    amtool = shutil.which("amtool")
    if amtool:
        done = subprocess.run([amtool, "check-config", CONFIG], capture_output=True, text=True)
        if done.returncode != 0:
            errors.append("amtool check-config failed:\n" + done.stdout + done.stderr)
    else:
        print("amtool not installed (Debian package prometheus-alertmanager): syntax not checked")
    config = yaml.safe_load(open(CONFIG))
    intervals = {i["name"]: i for i in config.get("time_intervals", [])}
    receivers = {x["name"] for x in config["receivers"]}

    for _, rule in r.alerts():
        labels = dict(rule.get("labels", {}), alertname=rule["alert"])
        receiver, muted = route(config["route"], labels)
        if receiver not in receivers:
            errors.append("%s: routed to unknown receiver %r" % (rule["alert"], receiver))
        want = ("holidays",) if labels.get("category") == "participation" else ()
        if muted != want:
            errors.append("%s: mute intervals %s, want %s" % (rule["alert"], muted, want))

    holidays = intervals.get("holidays")
    if holidays is None:
        errors.append("no `holidays` time interval")
    else:
        for day, want in [((1970, 1, 1), True), ((1970, 1, 2), False), ((2026, 12, 25), True),
                          ((2026, 12, 24), False), ((2026, 4, 3), True), ((2026, 12, 2), False)]:
            if muted_on(holidays, datetime.date(*day)) != want:
                errors.append("holidays: %s should%s be muted" % (day, "" if want else " not"))

    if not any(i.get("source_matchers") == ['category="pipeline"']
               and i.get("target_matchers") == ['category="participation"']
               and not i.get("equal") for i in config.get("inhibit_rules", [])):
        errors.append("no inhibit rule from every pipeline alert to every participation alert")

    if errors:
        print("\n".join(errors))
        return 1
    print("alertmanager.yml: valid, every alert routed, holidays muted, pipeline inhibits drops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
