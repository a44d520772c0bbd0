#!/usr/bin/env python3
"""deploy/kubernetes/ agrees with the rest of the deployment.

- prometheus-rule.yaml is exactly what make_prometheus_rule.py writes from
  deploy/prometheus/rules/*.yml, and its groups equal those files' groups once parsed;
- every Deployment has a Service, and every Service a ServiceMonitor that selects it by its
  labels and scrapes one of its named ports;
- every job the rules name (`job="..."`) is a monitored Service's name (the operator's job
  label) and a job of both Prometheus configurations.
"""
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import rules as r  # noqa: E402

K8S = os.path.join(r.ROOT, "deploy", "kubernetes")


def documents(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main():
    errors = []
    check = subprocess.run([sys.executable, os.path.join(K8S, "make_prometheus_rule.py"),
                            "--check"], capture_output=True, text=True)
    if check.returncode != 0:
        errors.append(check.stdout + check.stderr)
    (rule,) = documents("prometheus-rule.yaml")
    if rule["kind"] != "PrometheusRule" or rule["spec"]["groups"] != [g for _, g in r.groups()]:
        errors.append("prometheus-rule.yaml: its groups differ from deploy/prometheus/rules/")

    objects = documents("civicpulse.yaml")
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    monitors = [o for o in documents("monitoring.yaml") if o["kind"] == "ServiceMonitor"]
    for d in deployments:
        if d["metadata"]["name"] not in services:
            errors.append("Deployment %s has no Service" % d["metadata"]["name"])
    monitored = set()
    for name, service in services.items():
        labels = service["metadata"].get("labels", {})
        ports = {p["name"] for p in service["spec"]["ports"]}
        found = [m for m in monitors
                 if m["metadata"]["namespace"] == service["metadata"]["namespace"]
                 and all(labels.get(k) == v
                         for k, v in m["spec"]["selector"]["matchLabels"].items())]
        if len(found) != 1:
            errors.append("Service %s: %d ServiceMonitors select it, want 1" % (name, len(found)))
            continue
        for endpoint in found[0]["spec"]["endpoints"]:
            if endpoint["port"] not in ports:
                errors.append("ServiceMonitor of %s scrapes port %r, not a port of the Service"
                              % (name, endpoint["port"]))
        monitored.add(name)

    jobs = set()
    for _, rule in r.rules():
        jobs.update(re.findall(r'job="([^"]+)"', rule["expr"]))
    for config in ("deploy/prometheus/prometheus.yml", "deploy/local/prometheus.yml"):
        with open(os.path.join(r.ROOT, config)) as f:
            scraped = {c["job_name"] for c in yaml.safe_load(f)["scrape_configs"]}
        for job in sorted(jobs - scraped):
            errors.append("the rules name job %s, which %s does not scrape" % (job, config))
    for job in sorted(jobs - monitored):
        errors.append("the rules name job %s, which no ServiceMonitor scrapes" % job)

    if errors:
        print("\n".join(errors))
        return 1
    print("PrometheusRule identical to the rules; %d services monitored; jobs %s agree"
          % (len(monitored), sorted(jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
