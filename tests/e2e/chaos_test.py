#!/usr/bin/env python3
"""Chaos: exact indicators through kill -9, churn, zombies and broker faults, on a stream
larger than the embedded broker retains.

A three-node embedded cluster; 144,000 events over 20 areas (keyed unevenly to 4 partitions,
so the fullest partitions outgrow the broker's ~5 MiB per partition and lose their oldest
records) produced in 12 chunks, each once the exporter shows every chunk before it (records
must be consumed before retention deletes them: no system can count what it never read). Between chunks, at random moments (seeded; CHAOS_SEED=n
replays a run), one of: an aggregator SIGKILLed (often in the middle of a checkpoint) and
restarted, an aggregator added or removed, the exporter SIGKILLed and restarted, an
aggregator SIGSTOPped past its session timeout and woken (a zombie that must not count), or
a broker fault: retriable errors on Produce, Fetch, OffsetCommit, Heartbeat and
InitProducerId, a broker down and back up, a partition leader moved, the group coordinator
moved, a slow broker. Once in the run every broker goes down long enough that the
aggregators' /healthz must say so, then comes back.

At the end every indicator is exact (events per area and kind, distinct participants per
kind over 7 days), civicpulse_aggregator_events_total summed over the live instances equals
the records produced (no replay counted twice), and the broker really did drop records the
aggregators had consumed (so the result cannot come from re-reading the events topic).
"""
import argparse
import datetime
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from stack import Stack, free_port, parse_metrics, scrape  # noqa: E402

EVENTS_TOPIC = "civicpulse.events.v1"
KINDS = ["watch_report", "volunteer_shift", "recycling"]
AREAS = ["A%02d" % i for i in range(1, 21)]
PARTITIONS = 4
CHUNKS = 12
PER_CHUNK = 12000
INVALID_EVERY = 997  # every 997th record is malformed JSON (dead-lettered, counted invalid)
SESSION_MS = 6000
# CHAOS_KAFKA_DEBUG=cgrp,consumer turns on librdkafka debug logging in the aggregators (post-mortem).
KAFKA_DEBUG = ["-X", "debug=" + os.environ["CHAOS_KAFKA_DEBUG"]] if os.environ.get("CHAOS_KAFKA_DEBUG") else []


def make_records(n, rng):
    """(key, value, is_valid, event) in production order: oldest first, so nothing is late.

    900 people: distinct counts are exact below 1000 (design), so every indicator can be
    checked for equality, not within the sketch's error.

    The aggregators run with a long --idle-timeout: the pauses between chunks must not move a
    quiet partition's watermark to the wall clock (its next, days-old events would be late).
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    # Areas weighted unevenly, as real wards are.
    weights = [1 + (i % 5) * 2 for i in range(len(AREAS))]
    rows = []
    for i in range(n):
        # Two days: a partition's snapshot must stay under a third of the embedded broker's
        # ~5 MiB per partition (docs/delivery.md); a week of hourly cells would not.
        minutes_ago = rng.uniform(10, 2 * 24 * 60)
        rows.append((minutes_ago, i))
    rows.sort(reverse=True)
    out = []
    for minutes_ago, i in rows:
        area = rng.choices(AREAS, weights)[0]
        if i % INVALID_EVERY == INVALID_EVERY - 1:
            out.append((area, '{"event_id":"bad-%d","kind":' % i, False, None))
            continue
        kind = rng.choice(KINDS)
        e = {"event_id": "c-%d" % i, "kind": kind, "participant": "p-%d" % rng.randint(1, 900),
             "area": area,
             "occurred_at": (now - datetime.timedelta(minutes=minutes_ago)).isoformat()}
        if kind == "volunteer_shift":
            e["hours"] = 2
        if kind == "recycling":
            e["weight_kg"] = 1.5
        out.append((area, json.dumps(e, separators=(",", ":")), True, e))
    return out


def healthz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def metrics(port):
    try:
        return parse_metrics(scrape(port))
    except OSError:
        return None


def total(m, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= set(ls))


class Chaos:
    def __init__(self, stack, rng, log):
        self.stack = stack
        self.rng = rng
        self.log = log
        self.ports = {}       # aggregator name -> metrics port
        self.next_id = 1
        self.exporter_port = free_port()
        self.stopped = None   # a SIGSTOPped aggregator and when to wake it
        # Some aggregators checkpoint every few cycles only (--checkpoint-interval): a kill
        # then loses more uncommitted progress to read again. Drawn from a generator of its
        # own, so the disruptions of a seed stay what they were.
        self.interval_rng = random.Random(hash(rng.getstate()))

    # -- processes ------------------------------------------------------------------------
    def start_aggregator(self, name=None):
        if name is None:
            name = "agg-%d" % self.next_id
            self.next_id += 1
        port = self.ports.get(name) or free_port()
        self.ports[name] = port
        interval = self.interval_rng.choice([None, None, "1s", "2s"])
        extra = ["--checkpoint-interval", interval] if interval else []
        if interval:
            self.log("%s checkpoints every %s" % (name, interval))
        self.stack.start(name, "civicpulse-aggregator",
                         extra +
                         ["--brokers", self.stack.brokers, "--listen", "127.0.0.1:%d" % port,
                          "--instance-id", name, "--idle-timeout", "1h",
                          "--flush-interval", "300ms", "--snapshot-bytes", "262144",
                          "--restore-timeout", "60s",
                          "-X", "session.timeout.ms=%d" % SESSION_MS,
                          "-X", "heartbeat.interval.ms=500"] + KAFKA_DEBUG)
        return name

    def start_exporter(self):
        self.stack.start("exporter", "civicpulse-exporter",
                         ["--brokers", self.stack.brokers,
                          "--listen", "127.0.0.1:%d" % self.exporter_port,
                          "--merge-interval", "300ms"])

    def live(self):
        return [n for n in self.ports if self.stack.running(n)]

    def wake(self, force=False):
        if self.stopped and (force or time.time() >= self.stopped[1]):
            name = self.stopped[0]
            self.stack.signal(name, signal.SIGCONT)
            self.log("SIGCONT %s (a zombie: its partitions were given away)" % name)
            self.stopped = None

    def wait_stable(self, timeout=40):
        """Until the live, awake aggregators own every partition between them.

        Debian's librdkafka 2.0.2 mock cluster aborts (rdkafka_mock_cgrp.c:236,
        `!member->resp`) when a group member re-sends SyncGroup while its first one is still
        parked, which a kill in the middle of a rebalance provokes; real brokers do not. So
        processes are disrupted at random moments of processing, but between rebalances.
        """
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_broker()
            owned = 0
            for n in self.live():
                if self.stopped and self.stopped[0] == n:
                    continue
                m = metrics(self.ports[n])
                owned += total(m, "civicpulse_aggregator_assigned_partitions") if m else 0
            if owned == PARTITIONS:
                return True
            self.wake()
            time.sleep(0.3)
        return False

    def check_broker(self):
        if not self.stack.running("broker"):
            raise RuntimeError("the embedded broker died: " +
                               self.stack.log("broker").strip().splitlines()[-1])

    # -- one random disruption ---------------------------------------------------------------
    def disrupt(self, chunk):
        live = [n for n in self.live() if not (self.stopped and self.stopped[0] == n)]
        actions = ["kill_restart", "kill_restart", "fault", "fault", "fault", "exporter"]
        if len(live) < 3:
            actions.append("add")
        if len(live) > 1:
            actions += ["remove", "zombie" if self.stopped is None else "kill_restart"]
        action = self.rng.choice(actions)
        if action != "fault":
            self.wait_stable()
        # Let the chunk get going first: most kills land mid-batch or mid-checkpoint.
        time.sleep(self.rng.uniform(0, 1.2))
        if action == "kill_restart" and live:
            name = self.rng.choice(live)
            self.stack.stop(name, signal.SIGKILL)
            self.log("SIGKILL %s; restarted" % name)
            time.sleep(self.rng.uniform(0, 1))
            self.start_aggregator(name)
        elif action == "add":
            self.log("added %s" % self.start_aggregator())
        elif action == "remove" and len(live) > 1:
            name = self.rng.choice(live)
            sig = self.rng.choice([signal.SIGTERM, signal.SIGKILL])
            self.stack.stop(name, sig)
            self.log("removed %s (%s)" % (name, sig.name))
        elif action == "zombie" and len(live) > 1:
            name = self.rng.choice(live)
            self.stack.signal(name, signal.SIGSTOP)
            self.stopped = (name, time.time() + SESSION_MS / 1000 + 6)
            self.log("SIGSTOP %s" % name)
        elif action == "exporter":
            self.stack.stop("exporter", signal.SIGKILL)
            self.start_exporter()
            self.log("SIGKILL exporter; restarted")
        else:
            self.log("fault: " + self.broker_fault())

    def broker_fault(self):
        rng, stack = self.rng, self.stack
        kind = rng.choice(["produce", "fetch", "commit", "heartbeat", "init_pid", "down",
                           "leader", "coordinator", "rtt"])
        if kind == "produce":
            return stack.fault(action="request_errors", api="Produce",
                               error="NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT",
                               count=rng.randint(1, 5))
        if kind == "fetch":
            return stack.fault(action="request_errors", api="Fetch",
                               error="NOT_LEADER_FOR_PARTITION", count=rng.randint(1, 8))
        if kind == "commit":
            return stack.fault(action="request_errors", api="OffsetCommit",
                               error="COORDINATOR_LOAD_IN_PROGRESS,REQUEST_TIMED_OUT",
                               count=rng.randint(1, 4))
        if kind == "heartbeat":
            return stack.fault(action="request_errors", api="Heartbeat",
                               error="REBALANCE_IN_PROGRESS", count=1)
        if kind == "init_pid":
            return stack.fault(action="request_errors", api="InitProducerId",
                               error="COORDINATOR_LOAD_IN_PROGRESS", count=2)
        if kind == "down":
            broker = rng.randint(1, stack.nodes)
            stack.fault(action="broker_down", broker=broker)
            time.sleep(rng.uniform(1, 4))
            stack.fault(action="broker_up", broker=broker)
            return "broker %d down and back up" % broker
        if kind == "leader":
            topic = rng.choice([EVENTS_TOPIC, "civicpulse.aggregates.v1",
                                "civicpulse.aggregator.changelog.v1"])
            return stack.fault(action="leader", topic=topic,
                               partition=rng.randrange(PARTITIONS),
                               broker=rng.randint(1, stack.nodes))
        if kind == "coordinator":
            return stack.fault(action="coordinator", type="group", key="civicpulse-aggregator",
                               broker=rng.randint(1, stack.nodes))
        stack.fault(action="rtt", broker=rng.randint(1, stack.nodes), ms=rng.choice([50, 200]))
        return "a slow broker"

    def wait_healthy(self, timeout):
        """Until every live aggregator's /healthz says 200; whether they all did."""
        deadline = time.time() + timeout
        while time.time() < deadline and not all(
                healthz(self.ports[n]) == 200 for n in self.live()):
            time.sleep(0.5)
        return all(healthz(self.ports[n]) == 200 for n in self.live())

    def outage(self):
        """Every broker down: the aggregators' /healthz must turn 503, then recover."""
        self.wake(force=True)
        if not self.live():
            self.start_aggregator()
        self.wait_healthy(30)
        for b in range(1, self.stack.nodes + 1):
            self.stack.fault(action="broker_down", broker=b)
        self.log("every broker down")
        seen_unhealthy = False
        deadline = time.time() + 25
        while time.time() < deadline and not seen_unhealthy:
            seen_unhealthy = any(healthz(self.ports[n]) == 503 for n in self.live())
            time.sleep(0.5)
        for b in range(1, self.stack.nodes + 1):
            self.stack.fault(action="broker_up", broker=b)
        self.log("every broker up (an aggregator said 503: %s)" % seen_unhealthy)
        return seen_unhealthy


def dump_logs(stack, log):
    """Writes the framing of both aggregator logs next to the services' logs (post-mortem)."""
    try:
        import logdump
        for topic, kind in [("civicpulse.aggregator.changelog.v1", "changelog"),
                            ("civicpulse.aggregates.v1", "aggregates")]:
            path = logdump.dump(stack.brokers, topic, kind,
                                os.path.join(stack.workdir, kind + ".txt"))
            log("%s framing: %s" % (topic, path))
    except Exception as e:  # a post-mortem aid: never hides the failure itself
        log("could not dump the logs: %s" % e)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--chunks", type=int, default=CHUNKS)
    args = parser.parse_args()
    seed = int(os.environ.get("CHAOS_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    started = time.time()

    def log(msg):
        print("[%6.1fs] %s" % (time.time() - started, msg), flush=True)

    log("seed %d (CHAOS_SEED=%d replays this run)" % (seed, seed))
    stack = Stack(args.bin_dir, partitions=PARTITIONS, nodes=3)
    ok = False
    try:
        stack.start_broker()
        chaos = Chaos(stack, rng, log)
        chaos.start_aggregator()
        chaos.start_aggregator()
        chaos.start_exporter()
        time.sleep(3)

        records = make_records(args.chunks * PER_CHUNK, rng)
        outage_chunk = args.chunks // 2
        outage_ok = None

        def counted():
            m = metrics(chaos.exporter_port)
            return total(m, "civicpulse_events_total") if m else 0

        for c in range(args.chunks):
            # Keep the consumers within about a chunk of the producer.
            # Everything produced so far, so that one chunk at most is ever unconsumed.
            want = sum(1 for _, _, ok_, _ in records[:c * PER_CHUNK] if ok_)
            deadline = time.time() + 120
            while counted() < want and time.time() < deadline:
                chaos.check_broker()
                chaos.wake()
                time.sleep(0.5)
            if counted() < want:
                log("exporter behind: %d of %d before chunk %d" % (counted(), want, c))
            chunk = records[c * PER_CHUNK:(c + 1) * PER_CHUNK]
            stack.produce(EVENTS_TOPIC, [(k, v) for k, v, _, _ in chunk])
            chaos.wake()
            if c == outage_chunk:
                outage_ok = chaos.outage()
            else:
                chaos.disrupt(c)
        chaos.wake(force=True)
        for b in range(1, stack.nodes + 1):
            stack.fault(action="rtt", broker=b, ms=0)
        for api in ["Produce", "Fetch", "OffsetCommit", "Heartbeat", "InitProducerId"]:
            stack.fault(action="clear_request_errors", api=api)
        if not chaos.live():
            chaos.start_aggregator()
        log("produced %d records; %d aggregator(s) live: %s" % (
            len(records), len(chaos.live()), ", ".join(chaos.live())))

        valid = [e for _, _, is_valid, e in records if is_valid]
        invalid = len(records) - len(valid)
        by_area_kind = {}
        for e in valid:
            by_area_kind[(e["area"], e["kind"])] = by_area_kind.get((e["area"], e["kind"]), 0) + 1
        people = {k: len({e["participant"] for e in valid if e["kind"] == k}) for k in KINDS}
        people["all"] = len({e["participant"] for e in valid})

        def problems():
            m = metrics(chaos.exporter_port)
            if m is None:
                return ["exporter not answering"]
            out = []
            got = {}
            for (n, ls), v in m.items():
                if n == "civicpulse_events_total":
                    d = dict(ls)
                    got[(d.get("area"), d.get("kind"))] = v
            wrong = [(k, got.get(k), n) for k, n in by_area_kind.items() if got.get(k) != n]
            if wrong:
                out.append("%d area/kind event counts wrong, e.g. %s (got, want)" % (
                    len(wrong), wrong[:3]))
            extra = sum(v for k, v in got.items() if k not in by_area_kind)
            if extra:
                out.append("%d events in unexpected series" % extra)
            for kind, n in people.items():
                v = total(m, "civicpulse_active_participants", area="all", kind=kind,
                          window="7d")
                if v != n:
                    out.append("active participants 7d %s: %s, want %d" % (kind, v, n))
            applied = invalid_seen = 0
            for name in chaos.live():
                am = metrics(chaos.ports[name])
                if am is None:
                    out.append("%s not answering" % name)
                    continue
                applied += total(am, "civicpulse_aggregator_events_total", outcome="applied")
                invalid_seen += total(am, "civicpulse_aggregator_events_total",
                                      outcome="invalid")
            if applied != len(valid) or invalid_seen != invalid:
                out.append("aggregator_events_total over instances: applied %d invalid %d, "
                           "want %d and %d" % (applied, invalid_seen, len(valid), invalid))
            return out

        deadline = time.time() + 150
        chaos.wait_stable(60)
        issues = problems()
        while issues and time.time() < deadline:
            time.sleep(2)
            chaos.wait_stable(30)
            issues = problems()
        if issues:
            log("NOT EXACT:\n  " + "\n  ".join(issues))
            for name in chaos.live():
                am = metrics(chaos.ports[name]) or {}
                log("%s: assigned %s, skipped offsets %s, lag %s" % (
                    name, total(am, "civicpulse_aggregator_assigned_partitions"),
                    total(am, "civicpulse_aggregator_skipped_offsets_total"),
                    sorted((dict(ls).get("partition"), v) for (n, ls), v in am.items()
                           if n == "civicpulse_consumer_lag_records")))
            log("first retained offsets: %s" % [stack.first_offset(EVENTS_TOPIC, p)
                                                for p in range(PARTITIONS)])
            dump_logs(stack, log)
            return 1
        # Exact, and stays exact (no late re-publish of old state doubles anything). The
        # indicators must not move at all; the sum over instances may dip while a member the
        # mock coordinator threw out once more restores its partitions and catches up.
        time.sleep(3)
        deadline = time.time() + 60
        while True:
            chaos.wait_stable(60)  # the sum over instances is only meaningful between rebalances
            issues = problems()
            indicators_moved = [i for i in issues if not i.startswith("aggregator_events_total")]
            if not issues or indicators_moved or time.time() > deadline:
                break
            time.sleep(2)
        if issues:
            log("drifted after being exact:\n  " + "\n  ".join(issues))
            dump_logs(stack, log)
            return 1
        dropped = [stack.first_offset(EVENTS_TOPIC, p) or 0 for p in range(PARTITIONS)]
        if max(dropped) == 0:
            log("the broker retained the whole stream; the test proved nothing about retention")
            return 1
        if not outage_ok:
            log("no aggregator reported the outage on /healthz")
            return 1
        # Health reports client errors for 15 s after the last one (the last disruption may
        # have been a broker restart moments ago).
        if not chaos.wait_healthy(45):
            log("an aggregator is still unhealthy after the brokers came back")
            return 1
        log("exact: %d records (%d invalid), %d people, %d area/kind series; the broker had "
            "dropped the first %s records of the partitions; OK" % (
                len(records), invalid, people["all"], len(by_area_kind), dropped))
        ok = True
        return 0
    finally:
        stack.stop_all()
        if not ok:
            print(stack.logs())


if __name__ == "__main__":
    sys.exit(main())
