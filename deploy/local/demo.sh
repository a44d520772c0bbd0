#!/usr/bin/env bash
# The single-machine civicpulse stack behind `make demo`: embedded broker, two aggregators
# (one consumer group), the exporter, the simulator (8 days of history, then real time),
# the ingest gateway (demo key) and, when installed, a Prometheus server scraping them all.
#
#   DURATION=60 deploy/local/demo.sh    # run for 60 s; without DURATION, until Ctrl-C
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-$here/../../build/bin}
BIN_DIR=$(cd "$BIN_DIR" && pwd)
RUN_DIR=${RUN_DIR:-$(mktemp -d /tmp/civicpulse-demo.XXXXXX)}
DURATION=${DURATION:-}
# Mean events/s (real time and history alike), and the history generated first: 8 days (the
# 7d window and a day) at 0.3/s is about 210,000 events, which the embedded broker holds
# (it keeps only ~5 MiB per partition, and events are keyed by area) and two aggregators
# read in seconds (as protobuf, the canonical form; JSON is twice the bytes). Longer
# histories need more areas or a real Kafka.
RATE=${RATE:-0.3}
HISTORY=${HISTORY:-8d}
HISTORY_RATE=${HISTORY_RATE:-$RATE}
PARTITIONS=${PARTITIONS:-32}

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping civicpulse demo..."
  # Clients first (the aggregators publish and commit on the way out), the broker last.
  for ((i=${#pids[@]}-1; i>=1; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for ((i=${#pids[@]}-1; i>=1; i--)); do wait "${pids[$i]}" 2>/dev/null || true; done
  if ((${#pids[@]})); then kill -TERM "${pids[0]}" 2>/dev/null || true; wait "${pids[0]}" 2>/dev/null || true; fi
  echo "Stopped. Logs are in $RUN_DIR."
}
trap stop INT TERM EXIT

start() {  # start <name> <command...>
  local name=$1; shift
  "$@" >"$RUN_DIR/$name.log" 2>&1 &
  pids+=($!)
}

start broker "$BIN_DIR/civicpulse-broker" --partitions "$PARTITIONS" \
  --bootstrap-file "$RUN_DIR/bootstrap"
for _ in $(seq 100); do [[ -s $RUN_DIR/bootstrap ]] && break; sleep 0.1; done
[[ -s $RUN_DIR/bootstrap ]] || { echo "broker did not start: $(cat "$RUN_DIR/broker.log")"; exit 1; }
export CIVICPULSE_BROKERS=$(cat "$RUN_DIR/bootstrap")

start aggregator-1 "$BIN_DIR/civicpulse-aggregator" --listen 127.0.0.1:9401 --instance-id agg-1
start aggregator-2 "$BIN_DIR/civicpulse-aggregator" --listen 127.0.0.1:9411 --instance-id agg-2
start exporter "$BIN_DIR/civicpulse-exporter" --listen 127.0.0.1:9400
start simulator "$BIN_DIR/civicpulse-simulator" --listen 127.0.0.1:9402 \
  --rate "$RATE" --history "$HISTORY" --history-rate "$HISTORY_RATE" --seed 42 --format protobuf
if [[ -x $BIN_DIR/civicpulse-ingest ]]; then
  start ingest "$BIN_DIR/civicpulse-ingest" --listen 127.0.0.1:8080 --demo \
    --open311-config "$here/../../services/ingest/open311-sf.json"
fi

prometheus_line="(prometheus not installed: skipped)"
if command -v prometheus >/dev/null 2>&1; then
  start prometheus prometheus --config.file="$here/prometheus.yml" \
    --storage.tsdb.path="$RUN_DIR/prometheus" --web.listen-address=127.0.0.1:9090
  prometheus_line="http://127.0.0.1:9090   Prometheus (scrapes everything above; try civicpulse_active_participants)"
fi

cat <<MSG
civicpulse demo is running (brokers: $CIVICPULSE_BROKERS, logs: $RUN_DIR)
  http://127.0.0.1:9400/metrics   exporter: participation indicators
  http://127.0.0.1:9401/metrics   aggregator 1: pipeline health
  http://127.0.0.1:9411/metrics   aggregator 2: pipeline health
  http://127.0.0.1:9402/metrics   simulator
  http://127.0.0.1:8080/metrics   ingest gateway (POST /v1/events)
  $prometheus_line
${DURATION:+Running for $DURATION s. }Press Ctrl-C to stop.
MSG

# Show the headline indicators once they are non-zero.
show_indicators() {
  curl -sf http://127.0.0.1:9400/metrics 2>/dev/null |
    grep -E '^civicpulse_(active_participants\{area="all",kind="all"|collective_participation_ratio\{area="all")' |
    grep -v ' 0$' || true
}
deadline=$(( $(date +%s) + ${DURATION:-315360000} ))
shown=0
while (( $(date +%s) < deadline )); do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a service stopped unexpectedly; see $RUN_DIR"; exit 1; }
  done
  if (( !shown )) && [[ -n $(show_indicators) ]]; then
    echo "Indicators are live:"; show_indicators; shown=1
  fi
  sleep 1
done
(( shown )) || { echo "No indicators yet; see $RUN_DIR"; }
