#!/usr/bin/env python3
"""The example Alertmanager config inhibits as the runbooks say, in a real Alertmanager.

Starts Debian's prometheus-alertmanager (no clustering, loopback, a temporary storage path)
with deploy/alertmanager/alertmanager.yml, posts alerts shaped like the rules' alerts, and
reads back which are suppressed and by what:
  - a pipeline alert suppresses every participation alert;
  - a silent stream suppresses the drop of the same area and kind, not of another area;
  - an activity's drop suppresses the same area's kind="all" drop.
Holiday muting depends on the date and is checked offline (tests/contract/alertmanager_test.py).
"""
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "deploy", "alertmanager", "alertmanager.yml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read()
        return json.loads(text) if text else None


def alert(name, **labels):
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"labels": dict(labels, alertname=name),
            "annotations": {"summary": name},
            "startsAt": now.isoformat(),
            "endsAt": (now + datetime.timedelta(hours=1)).isoformat()}


DROP = dict(severity="warning", category="participation", window="1h")


def scenario(base, alerts, want):
    """Posts `alerts` and waits until each (alertname, area, kind) has the wanted state."""
    call(base, "/api/v2/alerts", alerts)
    deadline = time.time() + 20
    while True:
        got = {}
        for a in call(base, "/api/v2/alerts"):
            key = (a["labels"]["alertname"], a["labels"].get("area"), a["labels"].get("kind"))
            got[key] = a["status"]["state"]
        if all(got.get(k) == v for k, v in want.items()) or time.time() > deadline:
            return [("%s: want %s, got %s" % (k, v, got.get(k))) for k, v in want.items()
                    if got.get(k) != v]
        time.sleep(0.5)


def main():
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        print("prometheus-alertmanager not installed (Debian package prometheus-alertmanager)")
        return 1
    storage = tempfile.mkdtemp(prefix="civicpulse-am-")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    proc = subprocess.Popen([binary, "--config.file=" + CONFIG, "--storage.path=" + storage,
                             "--web.listen-address=127.0.0.1:%d" % port,
                             "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(storage, "log"), "w"))
    errors = []
    try:
        for _ in range(100):
            try:
                call(base, "/api/v2/status")
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("alertmanager did not start: " + open(os.path.join(storage, "log")).read())

        # Silence and activity inhibitions, with a healthy pipeline.
        errors += scenario(base, [
            alert("CivicpulseStreamSilent", area="W05", kind="recycling", **DROP),
            alert("CivicpulseParticipationDrop", area="W05", kind="recycling", **DROP),
            alert("CivicpulseParticipationDrop", area="W06", kind="recycling", **DROP),
            alert("CivicpulseParticipationDrop", area="W06", kind="all", **DROP),
        ], {
            ("CivicpulseStreamSilent", "W05", "recycling"): "active",
            ("CivicpulseParticipationDrop", "W05", "recycling"): "suppressed",
            ("CivicpulseParticipationDrop", "W06", "recycling"): "active",
            ("CivicpulseParticipationDrop", "W06", "all"): "suppressed",
        })
        # A pipeline alert: every participation alert suppressed, the pipeline alert active.
        errors += scenario(base, [
            alert("CivicpulseExporterStale", severity="critical", category="pipeline",
                  job="civicpulse-exporter", instance="exporter:9400"),
        ], {
            ("CivicpulseExporterStale", None, None): "active",
            ("CivicpulseStreamSilent", "W05", "recycling"): "suppressed",
            ("CivicpulseParticipationDrop", "W06", "recycling"): "suppressed",
        })
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(storage, ignore_errors=True)
    if errors:
        print("\n".join(errors))
        return 1
    print("Alertmanager inhibits as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
