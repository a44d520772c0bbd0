"""Runs civicpulse binaries as real processes for end-to-end tests.

A Stack starts the embedded broker and any services, gives each a free port, collects
their logs, and stops them all (SIGTERM, then SIGKILL) however the test ends.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, bin_dir, partitions=4, nodes=1):
        self.bin_dir = os.path.abspath(bin_dir)
        self.workdir = tempfile.mkdtemp(prefix="civicpulse-e2e-")
        self.procs = {}
        self.partitions = partitions
        self.nodes = nodes
        self.brokers = None
        self.control_port = None

    # -- processes ---------------------------------------------------------------------
    def start(self, name, binary, args, env=None):
        # Appends: a restarted service keeps one log with every life in it.
        log = open(os.path.join(self.workdir, name + ".log"), "a")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen([os.path.join(self.bin_dir, binary)] + args,
                                stdout=log, stderr=subprocess.STDOUT, env=full_env)
        self.procs[name] = proc
        return proc

    def start_broker(self):
        bootstrap_file = os.path.join(self.workdir, "bootstrap")
        self.control_port = free_port()
        self.start("broker", "civicpulse-broker",
                   ["--partitions", str(self.partitions), "--nodes", str(self.nodes),
                    "--bootstrap-file", bootstrap_file,
                    "--control-listen", "127.0.0.1:%d" % self.control_port])
        deadline = time.time() + 15
        while time.time() < deadline:
            if os.path.exists(bootstrap_file):
                self.brokers = open(bootstrap_file).read().strip()
                return self.brokers
            time.sleep(0.05)
        raise RuntimeError("broker did not start:\n" + self.log("broker"))

    def stop(self, name, sig=signal.SIGTERM, timeout=15):
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def running(self, name):
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def signal(self, name, sig):
        self.procs[name].send_signal(sig)

    def fault(self, **params):
        """Injects a broker fault (civicpulse-broker's POST /v1/faults); returns its summary."""
        url = "http://127.0.0.1:%d/v1/faults?%s" % (self.control_port,
                                                    urllib.parse.urlencode(params))
        with urllib.request.urlopen(urllib.request.Request(url, data=b""), timeout=5) as r:
            return r.read().decode().strip()

    def stop_all(self):
        for name in reversed(list(self.procs)):
            self.stop(name)

    def log(self, name):
        path = os.path.join(self.workdir, name + ".log")
        return open(path).read() if os.path.exists(path) else ""

    def logs(self):
        return "\n".join("==== %s ====\n%s" % (n, self.log(n)[-4000:]) for n in self.procs)

    # -- Kafka through kcat, a real Kafka client -----------------------------------------
    def produce(self, topic, records):
        """records: list of (key, value) pairs; value is a str."""
        payload = "".join("%s\t%s\n" % (k, v) for k, v in records)
        subprocess.run(["kcat", "-b", self.brokers, "-P", "-t", topic, "-K", "\t", "-z", "none"],
                       input=payload.encode(), check=True, timeout=30)

    def first_offset(self, topic, partition):
        """Offset of the oldest record the broker still retains in a partition."""
        out = subprocess.run(
            ["kcat", "-b", self.brokers, "-C", "-t", topic, "-p", str(partition),
             "-o", "beginning", "-c", "1", "-e", "-q", "-f", "%o\n"],
            capture_output=True, check=True, timeout=30).stdout.decode().split()
        return int(out[0]) if out else None

    def dump(self, topic, timeout=30):
        """Every key, value and header of a topic as raw bytes (binary values welcome)."""
        return subprocess.run(
            ["kcat", "-b", self.brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%k %s %h\n"], capture_output=True, check=True, timeout=timeout).stdout

    def consume(self, topic, timeout=30):
        """All records of a topic with their headers, as (key, value, {header: value})."""
        out = subprocess.run(
            ["kcat", "-b", self.brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%k\x1f%s\x1f%h\x1e"],
            capture_output=True, check=True, timeout=timeout).stdout.decode()
        records = []
        for chunk in out.split("\x1e"):
            if not chunk.strip("\n"):
                continue
            key, value, headers = chunk.lstrip("\n").split("\x1f")
            hdrs = {}
            for h in headers.split(","):
                if "=" in h:
                    k, v = h.split("=", 1)
                    hdrs[k] = v
            records.append((key, value, hdrs))
        return records


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} for every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))
