"""The alerting rules of deploy/prometheus/rules/, loaded once for the contract tests."""
import glob
import os

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES_GLOB = os.path.join(ROOT, "deploy", "prometheus", "rules", "*.yml")
RULE_TESTS_GLOB = os.path.join(ROOT, "deploy", "prometheus", "tests", "*_test.yml")


def rule_files():
    return sorted(glob.glob(RULES_GLOB))


def groups():
    """(path, group) for every rule group, in file order."""
    for path in rule_files():
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                yield path, group


def rules():
    """(path, rule) for every recording and alerting rule."""
    for path, group in groups():
        for rule in group["rules"]:
            yield path, rule


def alerts():
    return [(path, rule) for path, rule in rules() if "alert" in rule]


def recording(name):
    for _, rule in rules():
        if rule.get("record") == name:
            return rule
    raise KeyError(name)


def squeeze(text):
    """PromQL with all whitespace runs made one space, for comparing expressions."""
    return " ".join(text.split())
