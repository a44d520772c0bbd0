#!/usr/bin/env bash
# End-to-end throughput of civicpulse-aggregator against its ceiling, in one run on one machine:
# a bare librdkafka consumer-group member (bench/kafka_ceiling) reading the same topic.
#
#   bench/pipeline_throughput.sh [build-dir]      N=1000000 PARTITIONS=128 by default
#
# Loads N simulator events (JSON, ~185 B each, 7 days of history) into the embedded broker,
# times the ceiling consumer, then times one aggregator (fresh consumer group) from its first
# applied event until every event is accounted for (applied + duplicate + late + invalid),
# and prints both rates and their ratio.
set -euo pipefail
BUILD=${1:-build}
N=${N:-1000000}
PARTITIONS=${PARTITIONS:-128}
work=$(mktemp -d /tmp/civicpulse-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BUILD/bin/civicpulse-broker" --partitions "$PARTITIONS" --bootstrap-file "$work/bootstrap" \
  >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/bootstrap ]] && break; sleep 0.1; done
B=$(cat "$work/bootstrap")

echo "generating $N events..."
"$BUILD/bin/civicpulse-simulator" --output stdout --count "$N" --history 7d --seed 1 \
  --participants 200000 --areas 200 >"$work/events.ndjson"
echo "loading into the embedded broker ($PARTITIONS partitions)..."
kcat -b "$B" -P -t civicpulse.events.v1 -X linger.ms=50 -X batch.num.messages=10000 \
  -l "$work/events.ndjson"

ceiling=$("$BUILD/bench/kafka_ceiling" "$B" civicpulse.events.v1 "$N" ceiling-group)
echo "$ceiling"
ceiling_rate=$(sed -E 's/.*records_per_second=([0-9.]+).*/\1/' <<<"$ceiling")

port=19401
"$BUILD/bin/civicpulse-aggregator" --brokers "$B" --listen 127.0.0.1:$port \
  --group bench-aggregator >"$work/aggregator.log" 2>&1 &
pids+=($!)
counted() {
  curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null |
    awk '/^civicpulse_aggregator_events_total\{/ {s += $2} END {printf "%d", s}'
}
start=""
while :; do
  c=$(counted || echo 0)
  if [[ -z $start && ${c:-0} -gt 0 ]]; then start=$(date +%s.%N); first=$c; fi
  [[ ${c:-0} -ge $N ]] && break
  sleep 0.05
done
end=$(date +%s.%N)
python3 - "$start" "$end" "$N" "$first" "$ceiling_rate" <<'PY'
import sys
start, end, n, first, ceiling = map(float, sys.argv[1:])
rate = (n - first) / (end - start)
print("aggregator records=%d seconds=%.3f records_per_second=%.0f" % (n, end - start, rate))
print("ratio aggregator/ceiling = %.2f" % (rate / ceiling))
PY
