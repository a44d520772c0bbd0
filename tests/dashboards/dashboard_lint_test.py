#!/usr/bin/env python3
"""The Grafana dashboards follow the rules of grafana/dashboard-linter, and query only metrics
that civicpulse exports.

Linter rules (names as in the linter):
  template-datasource-rule       a `datasource` variable of type datasource, query prometheus
  template-job-rule              `job` and `instance` query variables (multi, All), on $datasource
  template-instance-rule
  template-on-time-change-reload-rule   query variables refresh on time range change (2)
  template-label-promql-rule     label_values() selectors are valid PromQL
  panel-datasource-rule          every panel and target uses the ${datasource} variable
  panel-title-description-rule   every panel has a title and a description
  panel-units-rule               every panel has a valid unit
  panel-no-targets-rule          every panel has queries
  target-promql-rule             every query is valid PromQL (checked by promtool)
  target-rate-interval-rule      rate()/increase()/... use [$__rate_interval]
  target-job-rule                every selector has job=~"$job" and instance=~"$instance"
  target-instance-rule           (ALERTS exempt: absent() alerts carry no job)
civicpulse's own: `area` and `kind` variables; not editable; schemaVersion >= 39; unique uids
and panel ids; the JSON is what dashboards/make_dashboards.py writes; the provisioning YAML
provisions a Prometheus data source and this folder.

Exported metric names are read from the services' source (every "civicpulse_..." string
literal of services/, histograms with their _bucket/_sum/_count series) together with the
design contract's list (tests/contract/metric_names_test.py), the recording rules of
deploy/prometheus/rules/, and Prometheus' own `up` and `ALERTS`.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "contract"))
import dashboards as d  # noqa: E402
import metric_names_test as contract  # noqa: E402
import rules as r  # noqa: E402

# Grafana unit ids the dashboards may use (packages/grafana-data/src/valueFormats/categories.ts).
UNITS = {"none", "short", "percent", "percentunit", "s", "ms", "m", "h", "d", "dtdurations",
         "bytes", "decbytes", "ops", "reqps", "cps", "eps", "recps", "mps", "rps", "wps",
         "massg", "masskg", "bool", "bool_yes_no", "bool_on_off", "dateTimeAsIso",
         "dateTimeFromNow", "locale"}
RANGE_FUNCTIONS = ("rate", "irate", "increase", "delta", "idelta", "deriv")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}
EXEMPT_FROM_SCOPE = {"ALERTS"}
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def exported_names():
    names = set()
    for path in glob.glob(os.path.join(d.ROOT, "services", "**", "*.*"), recursive=True):
        if path.endswith(("_test.cc",)) or not path.endswith((".cc", ".h")):
            continue
        text = open(path, errors="replace").read()
        for name in re.findall(r'"(civicpulse_[a-z0-9_]+)"', text):
            names.add(name)
        # prometheus-cpp histograms expose _bucket, _sum and _count series.
        for name in re.findall(r'BuildHistogram\(\)\s*\.Name\("([a-z0-9_]+)"\)', text):
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    source = set(names)
    names |= contract.CONTRACT
    names |= {rule["record"] for _, rule in r.rules() if "record" in rule}
    names |= {"up", "ALERTS"}
    return names, source


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


SELECTOR = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')


def selectors(expr):
    """(metric, matchers text) of every vector selector of a PromQL expression; a bare metric
    name (no braces) comes with matchers None."""
    found = [(m.group(1), m.group(2)) for m in SELECTOR.finditer(expr)]
    rest = re.sub(r"\{[^{}]*\}", "{}", strip_strings(expr))
    rest = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", rest)
    rest = re.sub(r"\[[^\]]*\]", "", rest)
    rest = re.sub(r"\boffset\s+\w+", "", rest)
    for m in re.finditer(r"(?<![\w$:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*[({])", rest):
        if m.group(1).lower() not in KEYWORDS:
            found.append((m.group(1), None))
    return found


def check_variables(path, board, errors):
    name = os.path.basename(path)
    variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errors.append("%s: template-datasource-rule: no `datasource` variable of Prometheus" % name)
    for var in ("job", "instance", "area", "kind"):
        v = variables.get(var)
        if not v or v.get("type") != "query":
            errors.append("%s: no `%s` query variable" % (name, var))
            continue
        if v.get("datasource", {}).get("uid") not in ("${datasource}", "$datasource"):
            errors.append("%s: variable %s does not use ${datasource}" % (name, var))
        if not (v.get("multi") and v.get("includeAll")):
            errors.append("%s: variable %s must be multi-value with All" % (name, var))
    for v in variables.values():
        if v.get("type") == "query":
            if v.get("refresh") != 2:
                errors.append("%s: template-on-time-change-reload-rule: %s" % (name, v["name"]))
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", query)
            if not m:
                errors.append("%s: variable %s: not label_values(selector, label)"
                              % (name, v["name"]))
            else:
                yield "variable %s of %s" % (v["name"], name), m.group(1)


def check_panel(name, panel, errors):
    where = "%s: panel %r" % (name, panel.get("title"))
    if not panel.get("title", "").strip() or not panel.get("description", "").strip():
        errors.append("%s: panel-title-description-rule" % where)
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if unit not in UNITS:
        errors.append("%s: panel-units-rule: unit %r" % (where, unit))
    if panel.get("datasource", {}).get("uid") not in ("${datasource}", "$datasource"):
        errors.append("%s: panel-datasource-rule" % where)
    targets = panel.get("targets", [])
    if not targets:
        errors.append("%s: panel-no-targets-rule" % where)
    for t in targets:
        if t.get("datasource", {}).get("uid") not in ("${datasource}", "$datasource"):
            errors.append("%s: panel-datasource-rule (target %s)" % (where, t.get("refId")))
        expr = t.get("expr", "")
        for fn, rng in re.findall(r"\b(%s)\s*\(.*?\[([^\]]*)\]" % "|".join(RANGE_FUNCTIONS), expr):
            if rng != "$__rate_interval":
                errors.append("%s: target-rate-interval-rule: %s over [%s]" % (where, fn, rng))
        yield where, expr


def check_scope(where, expr, names, errors):
    for metric, matchers in selectors(expr):
        if metric not in names:
            errors.append("%s: queries %s, which no service exports" % (where, metric))
        if metric in EXEMPT_FROM_SCOPE:
            continue
        if matchers is None or 'job=~"$job"' not in matchers \
                or 'instance=~"$instance"' not in matchers:
            errors.append('%s: target-job-rule/target-instance-rule: %s lacks job=~"$job" and '
                          'instance=~"$instance"' % (where, metric))


def promtool_check(queries, errors):
    """target-promql-rule and template-label-promql-rule: promtool parses every query."""
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not installed: PromQL syntax not checked")
        return
    rules = []
    for i, (where, expr) in enumerate(queries):
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        expr = re.sub(r"\$\{?[a-zA-Z_]+\}?", "x", expr)
        rules.append({"record": "lint:query_%d" % i, "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
    done = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if done.returncode != 0:
        out = done.stdout + done.stderr
        for i, (where, _) in enumerate(queries):
            out = out.replace("lint:query_%d" % i, where)
        errors.append("target-promql-rule: promtool rejects a query:\n" + out)


def check_provisioning(errors):
    prov = os.path.join(d.ROOT, "dashboards", "provisioning")
    sources = yaml.safe_load(open(os.path.join(prov, "datasources.yaml")))["datasources"]
    if not any(s.get("type") == "prometheus" and s.get("isDefault") for s in sources):
        errors.append("provisioning/datasources.yaml: no default Prometheus data source")
    providers = yaml.safe_load(open(os.path.join(prov, "dashboards.yaml")))["providers"]
    if not providers or any(p.get("type") != "file" or not p.get("options", {}).get("path")
                            or p.get("allowUiUpdates") for p in providers):
        errors.append("provisioning/dashboards.yaml: want file providers with a path, "
                      "no UI updates")


def main():
    errors = []
    names, source = exported_names()
    made = subprocess.run([sys.executable, os.path.join(d.ROOT, "dashboards",
                                                        "make_dashboards.py"), "--check"],
                          capture_output=True, text=True)
    if made.returncode != 0:
        errors.append(made.stdout + made.stderr)
    paths = d.paths()
    if len(paths) < 3:
        errors.append("want the Participation, Drops and Pipeline health dashboards")
    uids, queries, used = set(), [], set()
    for path in paths:
        board = d.load(path)
        name = os.path.basename(path)
        if board.get("editable") is not False:
            errors.append("%s: editable must be false" % name)
        if board.get("schemaVersion", 0) < 39:
            errors.append("%s: schemaVersion %s is not current (>= 39)"
                          % (name, board.get("schemaVersion")))
        if board.get("uid") in uids:
            errors.append("%s: duplicate uid" % name)
        uids.add(board.get("uid"))
        ids = [p["id"] for p in d.panels(board)]
        if len(ids) != len(set(ids)):
            errors.append("%s: duplicate panel ids" % name)
        for where, selector in check_variables(path, board, errors):
            queries.append((where, selector))
            for metric, _ in selectors(selector):
                if metric not in names:
                    errors.append("%s: label_values of %s, which no service exports"
                                  % (where, metric))
        for panel in d.panels(board):
            if panel.get("type") == "row":
                continue
            for where, expr in check_panel(name, panel, errors):
                queries.append((where, expr))
                check_scope(where, expr, names, errors)
                used.update(m for m, _ in selectors(expr))
    promtool_check(queries, errors)
    check_provisioning(errors)
    if errors:
        print("\n".join(errors))
        return 1
    pending = sorted(n for n in used if n.startswith("civicpulse_") and n not in source)
    print("%d dashboards, %d queries: lint rules hold, every metric exported" %
          (len(paths), len(queries)))
    if pending:
        print("in the design contract but not yet in services/ source: " + ", ".join(pending))
    return 0


if __name__ == "__main__":
    sys.exit(main())
