#!/usr/bin/env bash
# End-to-end throughput of civicpulse-aggregator against its ceiling, in one run on one machine:
# a bare librdkafka consumer-group member (bench/kafka_ceiling) reading the same topic.
#
#   bench/pipeline_throughput.sh [build-dir]
#   N=1000000 PARTITIONS=256 AREAS=2000 PARTICIPANTS=200000 HISTORY=7d
#   FORMATS="json protobuf" (defaults)
#
# For each format, on a fresh embedded broker (civicpulse-broker):
#  1. civicpulse-simulator produces N events (HISTORY of event time ending now, keyed by
#     area) to civicpulse.events.v1 and exits. HISTORY=7d is a replay of a week (what a
#     restarted aggregator re-reads; sparse: few events per area, kind and minute), HISTORY=1h
#     the same events packed into one hour (dense);
#  2. kafka_ceiling reads all N from the earliest offset (timed from its first record, so the
#     group join is excluded); it fails if retention lost records;
#  3. civicpulse-aggregator (a fresh consumer group, so it reads from the earliest offset)
#     consumes, decodes, validates, dedups and applies them, publishing aggregates every 1 s.
#     Its rate is timed from the first moment its /metrics shows a consumed event until
#     civicpulse_aggregator_events_total (all outcomes) reaches N; the records counted at the
#     first sample are subtracted, so the join is excluded here too;
#     (CHECKPOINTS_OFF=1, the default) first once with --no-checkpoints, in a group of its
#     own: the same work without the changelog, for checkpoint_cost;
#  4. kafka_ceiling runs once more in a new group (the ceiling is the faster of the two runs);
#  5. (JSON, PYTHON_PEER=1) bench/python_peer.py, the script an operations team would write
#     (confluent-kafka, json, dicts and sets, prometheus_client), reads the same topic.
# Prints one `RESULT` line per format: both rates, their ratio, the aggregator's CPU seconds,
# peak RSS and aggregate records published per event; and what CPU alone allows:
# ceiling_cpu_s (the faster ceiling run's CPU, librdkafka's threads included),
# cpu_vs_ceiling (the aggregator's CPU per event / the ceiling's) and ratio_cpu_bound (the
# ratio the aggregator would reach with its CPU and the broker's spread perfectly over all
# of the machine's cores, against the faster ceiling run: a measured ratio near it is bound
# by work, one far below it by waiting). The embedded broker keeps only ~5 MiB
# per partition: enough partitions and areas (the record key) keep every partition below
# that (the simulator's heavy-tailed participants make some areas 2.5 MiB of JSON per 1M
# events, so 128 partitions lose JSON records, 256 do not); a loss is reported, not hidden.
set -euo pipefail
BUILD=${1:-build}
N=${N:-1000000}
PARTITIONS=${PARTITIONS:-256}
AREAS=${AREAS:-2000}
PARTICIPANTS=${PARTICIPANTS:-200000}
HISTORY=${HISTORY:-7d}
FORMATS=${FORMATS:-json protobuf}
# 1: also time bench/python_peer.py (JSON only; needs `make bench-deps`: python3-confluent-kafka
# and python3-prometheus-client for /usr/bin/python3).
PYTHON_PEER=${PYTHON_PEER:-1}
# 1: also time the aggregator with --no-checkpoints (no changelog) on the same topic, and print
# checkpoint_cost = 1 - rate with checkpoints / rate without.
CHECKPOINTS_OFF=${CHECKPOINTS_OFF:-1}
# simulator (default), or kcat: issue 8's workload (uniform JSON events keyed by area, JSON only)
PRODUCER=${PRODUCER:-simulator}
TOPIC=civicpulse.events.v1
TIMEOUT_S=${TIMEOUT_S:-120}  # no progress for this long fails the run
# Extra civicpulse-aggregator flags (word-split), e.g. AGGREGATOR_FLAGS="--decode-threads 0
# -X queued.min.messages=100000": the consume loop as it was before issue 8's last changes.
AGGREGATOR_FLAGS=${AGGREGATOR_FLAGS:-}
# KEEP_WORK=1 keeps the work directory (/tmp/civicpulse-bench.*: the logs) after the run.

for bin in bin/civicpulse-broker bin/civicpulse-simulator bin/civicpulse-aggregator \
  bench/kafka_ceiling; do
  [[ -x $BUILD/$bin ]] || { echo "missing $BUILD/$bin (build it first)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

work=$(mktemp -d /tmp/civicpulse-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }

scrape() {  # port: the aggregator's /metrics (empty when it does not answer)
  curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null
}

# The readers below take an exposition on stdin: a live scrape, or the one kept at the end.
# Sum of civicpulse_aggregator_events_total over outcomes, or a given outcome.
counted() {  # [outcome]
  awk -v o="${1:-}" '/^civicpulse_aggregator_events_total\{/ {
      if (o == "" || index($0, "outcome=\"" o "\"")) s += $2 } END {printf "%d", s}'
}

metric() {  # name: the value of an unlabelled metric
  awk -v m="$1" '$1 == m {printf "%d", $2}'
}

checkpoint_bytes() {  # log: civicpulse_aggregator_checkpoint_bytes_total of a log
  awk -v l="$1" '/^civicpulse_aggregator_checkpoint_bytes_total\{/ && index($0, "log=\"" l "\"") {
      s += $2 } END {printf "%d", s}'
}

# utime+stime of a process in seconds.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# Runs one civicpulse-aggregator (in a group of its own, so from the earliest offset) with
# the given flags until it has counted every produced event; sets start, end, first,
# cpu_start/cpu_end, broker_cpu_start/broker_cpu_end, rss, published, the checkpoint bytes
# and the outcome counts (globals: the caller reads them).
time_aggregator() {  # label [aggregator flags...]
  local label=$1
  shift
  local log="$dir/aggregator-$label.log"
  "$BUILD/bin/civicpulse-aggregator" --brokers "$B" --listen 127.0.0.1:0 \
    --group "bench-aggregator-$format-$label" --max-areas "$AREAS" $AGGREGATOR_FLAGS "$@" \
    >"$log" 2>&1 &
  local agg=$!
  pids+=("$agg")
  local port=""
  for _ in $(seq 100); do
    port=$(sed -nE 's/.*metrics on port ([0-9]+).*/\1/p' "$log" | head -1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { cat "$log" >&2; return 1; }

  # Sampled every 50 ms with shell built-ins, curl and awk only (no python in the loop: the
  # machine's cores are what is being measured).
  local c=0 last=0 last_change=$SECONDS
  start="" first=0 cpu_start=0 broker_cpu_start=0
  while :; do
    c=$(scrape "$port" | counted || echo 0)
    c=${c:-0}
    if [[ -z $start && $c -gt 0 ]]; then
      start=$(now)
      first=$c
      cpu_start=$(cpu_seconds "$agg")
      broker_cpu_start=$(cpu_seconds "$broker")
    fi
    [[ $c -ge $produced ]] && break
    if [[ $c -ne $last ]]; then
      last=$c
      last_change=$SECONDS
    elif ((SECONDS - last_change > TIMEOUT_S)); then
      echo "[$format] aggregator stuck at $c of $produced events" >&2
      tail -20 "$log" >&2
      return 1
    fi
    sleep 0.05
  done
  end=$(now)
  cpu_end=$(cpu_seconds "$agg")
  broker_cpu_end=$(cpu_seconds "$broker")
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$agg/status")
  # The records counted so far may not be published yet: wait past the next flush (1 s)
  # before reading what was written (the rate above is already timed).
  sleep 1.5
  # Everything it exported, read once for the figures below, and kept for a look at where
  # the time went (KEEP_WORK=1 keeps the work directory).
  local metrics="$dir/metrics-$label.txt"
  scrape "$port" >"$metrics"
  published=$(metric civicpulse_aggregator_published_records_total <"$metrics")
  changelog_bytes=$(checkpoint_bytes changelog <"$metrics")
  aggregates_bytes=$(checkpoint_bytes aggregates <"$metrics")
  applied=$(counted applied <"$metrics")
  duplicate=$(counted duplicate <"$metrics")
  late=$(counted late <"$metrics")
  invalid=$(counted invalid <"$metrics")
  kill "$agg"
  wait "$agg" 2>/dev/null || true
}

run_format() {
  local format=$1
  local dir="$work/$format"
  mkdir -p "$dir"
  "$BUILD/bin/civicpulse-broker" --partitions "$PARTITIONS" --bootstrap-file "$dir/bootstrap" \
    >"$dir/broker.log" 2>&1 &
  local broker=$!
  pids+=("$broker")
  for _ in $(seq 100); do [[ -s $dir/bootstrap ]] && break; sleep 0.1; done
  local B
  B=$(cat "$dir/bootstrap")

  # HISTORY ending now, thinned so that it holds about 1.05 N events; --count stops at N,
  # --end stops the run even if the rhythms gave fewer.
  local rate end_time t0 t1
  rate=$(python3 -c "
import re
m = re.fullmatch(r'(\d+)([smhd])', '$HISTORY')
print($N * 1.05 / (int(m[1]) * {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}[m[2]]))")
  end_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local produced
  if [[ $PRODUCER == kcat ]]; then
    # The workload of issue 8: N JSON events spread evenly over HISTORY ending now, AREAS
    # areas, PARTICIPANTS people, keyed by area, written by kcat in large batches.
    echo "[$format] kcat: producing $N JSON events over $HISTORY to $PARTITIONS partitions" \
      "($AREAS areas, $PARTICIPANTS participants)..."
    /usr/bin/python3 - "$N" "$HISTORY" "$AREAS" "$PARTICIPANTS" >"$dir/events.tsv" <<'PY'
import datetime, json, random, re, sys
n, history, areas, people = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = re.fullmatch(r"(\d+)([smhd])", history)
span = int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
rng = random.Random(1)
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
kinds = ["watch_report", "volunteer_shift", "recycling"]
out = sys.stdout
for i in range(n):
    t = now - span + span * (i + 0.5) / n - 5  # oldest first, the newest 5 s old
    area = "W%03d" % rng.randrange(areas)
    kind = kinds[i % 3]
    e = {"event_id": "b-%d" % i, "kind": kind, "participant": "p-%07d" % rng.randrange(people),
         "area": area,
         "occurred_at": datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
             .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
         "source": "bench"}
    if kind == "volunteer_shift":
        e["hours"] = 2.5
    elif kind == "recycling":
        e["weight_kg"] = 1.2
    out.write(area + "\t" + json.dumps(e, separators=(",", ":")) + "\n")
PY
    t0=$(now)
    kcat -b "$B" -P -l -t "$TOPIC" -K $'\t' -z none -X linger.ms=50 -X batch.num.messages=10000 \
      -X queue.buffering.max.messages=1000000 "$dir/events.tsv" 2>"$dir/kcat.log" ||
      { echo "[$format] kcat failed:" >&2; cat "$dir/kcat.log" >&2; return 1; }
    t1=$(now)
    produced=$N
    rm -f "$dir/events.tsv"
    python3 -c "print('[$format] kcat: %d events in %.1f s' % ($produced, $t1 - $t0))"
  else
    echo "[$format] producing $N events over $HISTORY to $PARTITIONS partitions ($AREAS areas," \
      "$PARTICIPANTS participants)..."
    t0=$(now)
    "$BUILD/bin/civicpulse-simulator" --brokers "$B" --listen 127.0.0.1:0 --format "$format" \
      --count "$N" --history "$HISTORY" --history-rate "$rate" --end "$end_time" --seed 1 \
      --areas "$AREAS" --participants "$PARTICIPANTS" 2>"$dir/simulator.log"
    t1=$(now)
    produced=$(sed -nE 's/.*: ([0-9]+) events generated.*/\1/p' "$dir/simulator.log" | tail -1)
    [[ -n $produced ]] || { cat "$dir/simulator.log" >&2; return 1; }
    python3 -c "print('[$format] simulator: %d events in %.1f s' % ($produced, $t1 - $t0))"
  fi

  local c1 c2
  if ! c1=$("$BUILD/bench/kafka_ceiling" "$B" "$TOPIC" "$produced" "ceiling-1-$format" 30); then
    echo "[$format] the ceiling consumer did not get all $produced records: $c1" >&2
    echo "[$format] (embedded broker retention: use more PARTITIONS/AREAS or a smaller N)" >&2
    return 1
  fi
  echo "[$format] $c1"

  # What checkpointing costs: the same work without the changelog (--no-checkpoints, a
  # benchmark-only flag), in the same broker and run. It runs first, so that the run with
  # checkpoints leaves the figures the summary below reads.
  local off="checkpoints_off records_per_second=0"
  if [[ $CHECKPOINTS_OFF == 1 ]]; then
    time_aggregator no-checkpoints --no-checkpoints || return 1
    off=$(python3 -c "
r = ($produced - $first) / ($end - $start)
print('checkpoints_off records_per_second=%.0f cpu_s=%.2f rss_mib=%.0f' % (r, $cpu_end - $cpu_start, $rss / 1024))")
    echo "[$format] aggregator with --no-checkpoints: $off"
  fi
  time_aggregator checkpoints || return 1

  if ! c2=$("$BUILD/bench/kafka_ceiling" "$B" "$TOPIC" "$produced" "ceiling-2-$format" 30); then
    c2=$c1
  fi
  echo "[$format] $c2"
  # The Python peer (bench/python_peer.py): the script an operations team would write.
  local peer="python_peer records_per_second=0"
  if [[ $PYTHON_PEER == 1 && $format == json ]]; then
    if peer=$(/usr/bin/python3 "$(dirname "$0")/python_peer.py" "$B" "$TOPIC" "$produced" \
        "python-peer-$format" 30); then
      echo "[$format] $peer"
    else
      echo "[$format] the Python peer failed: $peer" >&2
      peer="python_peer records_per_second=0"
    fi
  fi
  kill "$broker"
  wait "$broker" 2>/dev/null || true

  python3 - "$format" "$produced" "$first" "$start" "$end" "$cpu_start" "$cpu_end" "$rss" \
    "$applied" "$duplicate" "$late" "$invalid" "$published" "$c1" "$c2" "$HISTORY" \
    "$broker_cpu_start" "$broker_cpu_end" "$changelog_bytes" "$aggregates_bytes" "$peer" \
    "$off" "$(nproc)" <<'PY'
import sys
(fmt, n, first, start, end, cpu0, cpu1, rss, applied, dup, late, invalid,
 published) = sys.argv[1:14]
history = sys.argv[16]
broker_cpu = float(sys.argv[18]) - float(sys.argv[17])
changelog_bytes, aggregates_bytes = int(sys.argv[19] or 0), int(sys.argv[20] or 0)
n, first = int(n), int(first)
seconds = float(end) - float(start)
rate = (n - first) / seconds
cpu = float(cpu1) - float(cpu0)
def parse(line):
    return dict(kv.split("=") for kv in line.split()[1:])
runs = [parse(sys.argv[14]), parse(sys.argv[15])]
fastest = max(runs, key=lambda r: float(r["records_per_second"]))
ceiling = float(fastest["records_per_second"])
ceiling_cpu = float(fastest.get("cpu_s", 0))
cores = int(sys.argv[23])
mean_bytes = float(runs[0]["bytes"]) / float(runs[0]["records"])
print("[%s] aggregator: %d events (applied %s, duplicate %s, late %s, invalid %s), timed "
      "%d of them in %.3f s; %.2f CPU s (%.0f events per CPU second); peak RSS %.0f MiB; "
      "%s aggregate records published (%.2f per event); the broker used %.2f CPU s meanwhile"
      % (fmt, n, applied, dup, late, invalid, n - first, seconds, cpu,
         (n - first) / cpu if cpu > 0 else 0, float(rss) / 1024, published,
         float(published or 0) / n, broker_cpu))
# The aggregator and the broker cannot finish in less than their CPU over the cores.
cpu_bound_eps = (n - first) / ((cpu + broker_cpu) / cores) if cpu + broker_cpu > 0 else 0
cpu_vs_ceiling = (cpu / (n - first)) / (ceiling_cpu / n) if ceiling_cpu > 0 else 0
print("[%s] the ceiling's faster run used %.2f CPU s (%.2f us an event); the aggregator %.2f "
      "us an event (%.2fx); with its and the broker's CPU spread over %d cores it could "
      "reach %.0f events/s: ratio %.3f at best" % (
          fmt, ceiling_cpu, ceiling_cpu / n * 1e6, cpu / (n - first) * 1e6, cpu_vs_ceiling,
          cores, cpu_bound_eps, cpu_bound_eps / ceiling))
peer = float(parse(sys.argv[21]).get("records_per_second", 0))
off = float(parse(sys.argv[22]).get("records_per_second", 0))
print("RESULT format=%s history=%s events=%d bytes_per_event=%.0f ceiling_eps=%.0f "
      "aggregator_eps=%.0f ratio=%.3f python_peer_eps=%.0f vs_python_peer=%s "
      "aggregator_cpu_s=%.2f aggregator_rss_mib=%.0f "
      "published_per_event=%.4f broker_cpu_s=%.2f changelog_bytes_per_event=%.1f "
      "aggregates_bytes_per_event=%.1f no_checkpoints_eps=%.0f checkpoint_cost=%s "
      "ceiling_cpu_s=%.2f cpu_vs_ceiling=%.2f ratio_cpu_bound=%.3f"
      % (fmt, history, n, mean_bytes, ceiling, rate, rate / ceiling, peer,
         "%.2f" % (rate / peer) if peer > 0 else "-", cpu, float(rss) / 1024,
         float(published or 0) / n, broker_cpu, changelog_bytes / n, aggregates_bytes / n,
         off, "%.3f" % (1 - rate / off) if off > 0 else "-", ceiling_cpu, cpu_vs_ceiling,
         cpu_bound_eps / ceiling))
PY
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for format in $FORMATS; do run_format "$format"; done
