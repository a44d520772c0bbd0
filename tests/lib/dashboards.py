"""The Grafana dashboards of dashboards/, walked once for the contract and lint tests."""
import glob
import json
import os

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def paths():
    return sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))


def load(path):
    with open(path) as f:
        return json.load(f)


def panels(dashboard):
    """Every panel, rows' nested panels included (rows themselves too)."""
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []):
            yield inner
