#!/usr/bin/env python3
"""deploy/kubernetes/ agrees with the rest of the deployment.

- prometheus-rule.yaml is exactly what make_prometheus_rule.py writes from
  deploy/prometheus/rules/*.yml, and its groups equal those files' groups once parsed;
- every Deployment has a Service, and every Service a ServiceMonitor that selects it by its
  labels and scrapes one of its named ports;
- every job the rules name (`job="..."`) is a monitored Service's name (the operator's job
  label) and a job of both Prometheus configurations;
- with the path of civicpulse-ingest as argument: the Secret's tokens file and pseudonym key
  pass the ingest's own checks (it gets as far as looking for Kafka, where none is).
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import rules as r  # noqa: E402

K8S = os.path.join(r.ROOT, "deploy", "kubernetes")


def documents(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ingest_accepts_secret(ingest, objects):
    """Starts the real civicpulse-ingest with the Secret's tokens and key, towards a Kafka
    that is not there: it must refuse for Kafka, having accepted both files."""
    (secret,) = [o for o in objects
                 if o["kind"] == "Secret" and o["metadata"]["name"] == "civicpulse-secrets"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for key in ("tokens", "pseudonym-key"):
            paths[key] = os.path.join(tmp, key)
            with open(paths[key], "w") as f:
                f.write(secret["stringData"][key])
        run = subprocess.run([ingest, "--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0",
                              "--tokens-file", paths["tokens"],
                              "--pseudonym-key-file", paths["pseudonym-key"]],
                             capture_output=True, text=True, timeout=60)
    if run.returncode != 0 and "cannot reach Kafka" in run.stderr:
        return []
    return ["civicpulse-ingest does not accept the Secret civicpulse-secrets (exit %d): %s"
            % (run.returncode, run.stderr.strip())]


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

    if len(sys.argv) > 1:
        errors += ingest_accepts_secret(sys.argv[1], objects)

    if errors:
        print("\n".join(errors))
        return 1
    print("PrometheusRule identical to the rules; %d services monitored; jobs %s agree%s"
          % (len(monitored), sorted(jobs),
             "; civicpulse-ingest accepts the Secret" if len(sys.argv) > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
