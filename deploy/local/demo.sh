#!/usr/bin/env bash
# The single-machine civicpulse stack behind `make demo`: embedded broker, two aggregators
# (one consumer group), the exporter, the simulator (22 days of history with a drop in one
# area, then real time), the ingest gateway (demo key) and, when installed, a Prometheus
# server scraping them all with the alert rules of deploy/prometheus/rules/.
#
#   DURATION=60 deploy/local/demo.sh    # run for 60 s; without DURATION, until Ctrl-C
#   PORT_OFFSET=20000 deploy/local/demo.sh   # every port + 20000 (tests run it so)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-$here/../../build/bin}
BIN_DIR=$(cd "$BIN_DIR" && pwd)
RUN_DIR=${RUN_DIR:-$(mktemp -d /tmp/civicpulse-demo.XXXXXX)}
mkdir -p "$RUN_DIR"
DURATION=${DURATION:-}
# Mean events/s (real time and history alike: the seasonal expectation learns the history's
# rate, so a thinner history would make the live stream look like a surge), and the history
# generated first. 22 days and 2 hours is 3 previous weeks, a day and some slack: the 1h and
# 24h windows' expectation (docs/baseline.md) is ready as soon as the history is read. 12
# areas at 0.4/s give the largest about 180 events an hour on average: the drop alert needs 20
# expected in the hour, which the quietest night hours (a twentieth of the mean) do not reach,
# but most hours do. That is ~760,000 events (as protobuf, the canonical form). The embedded
# broker keeps only ~5 MiB per partition (~100,000 events of one area), so the simulator
# writes the history at HISTORY_PACE events/s, which two aggregators keep up with on two busy
# shared cores (at 15,000/s they fell behind under load and the broker dropped the oldest):
# about 80 s. The aggregators flush every 250 ms: a second of a fast backfill is hours of
# event time, and a state delta of that many cells outgrew the broker's 1 MB message limit.
RATE=${RATE:-0.4}
HISTORY=${HISTORY:-22d2h}
HISTORY_RATE=${HISTORY_RATE:-$RATE}
HISTORY_PACE=${HISTORY_PACE:-10000}
AREAS=${AREAS:-12}
PARTITIONS=${PARTITIONS:-32}
# The drop the demo shows: every kind in one area (one of the largest of the simulator's
# default city, an eighth of it, so that the city-wide ratio stays above 0.9) at 30% of its
# usual rate, from 24 hours before start-up (so it is in the history already, and fills the
# 1h, 3h and 24h windows whatever the time of day) for 36 hours.
DROP_AREA=${DROP_AREA:-W04}
DROP=${DROP:-$DROP_AREA:*:now-24h:36h:0.3}
PORT_OFFSET=${PORT_OFFSET:-0}
port() { echo $(( $1 + PORT_OFFSET )); }
EXPORTER=127.0.0.1:$(port 9400)
AGGREGATOR_1=127.0.0.1:$(port 9401)
AGGREGATOR_2=127.0.0.1:$(port 9411)
SIMULATOR=127.0.0.1:$(port 9402)
INGEST=127.0.0.1:$(port 8080)
PROMETHEUS=127.0.0.1:$(port 9090)
RULES_DIR=$(cd "$here/../prometheus/rules" && pwd)

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

start aggregator-1 "$BIN_DIR/civicpulse-aggregator" --listen "$AGGREGATOR_1" --instance-id agg-1 \
  --flush-interval 250ms
start aggregator-2 "$BIN_DIR/civicpulse-aggregator" --listen "$AGGREGATOR_2" --instance-id agg-2 \
  --flush-interval 250ms
start exporter "$BIN_DIR/civicpulse-exporter" --listen "$EXPORTER"
start simulator "$BIN_DIR/civicpulse-simulator" --listen "$SIMULATOR" \
  --rate "$RATE" --history "$HISTORY" --history-rate "$HISTORY_RATE" --areas "$AREAS" \
  --history-pace "$HISTORY_PACE" \
  --drop "$DROP" --seed 42 --format protobuf
if [[ -x $BIN_DIR/civicpulse-ingest ]]; then
  start ingest "$BIN_DIR/civicpulse-ingest" --listen "$INGEST" --demo \
    --open311-config "$here/../../services/ingest/open311-sf.json"
fi

prometheus_line="(prometheus not installed: skipped)"
alerts_line=""
if command -v prometheus >/dev/null 2>&1; then
  # The local scrape targets and the shipped rules, on this run's ports.
  sed -e "s|127.0.0.1:9400|$EXPORTER|; s|127.0.0.1:9401|$AGGREGATOR_1|; s|127.0.0.1:9411|$AGGREGATOR_2|" \
      -e "s|127.0.0.1:9402|$SIMULATOR|; s|127.0.0.1:8080|$INGEST|; s|\.\./prometheus/rules|$RULES_DIR|" \
      "$here/prometheus.yml" >"$RUN_DIR/prometheus.yml"
  start prometheus prometheus --config.file="$RUN_DIR/prometheus.yml" \
    --storage.tsdb.path="$RUN_DIR/prometheus" --web.listen-address="$PROMETHEUS"
  prometheus_line="http://$PROMETHEUS   Prometheus (scrapes everything above, with the alert rules)"
  alerts_line="http://$PROMETHEUS/alerts   the drop alert: pending at once, firing after its 'for:' (5 min)"
fi

cat <<MSG
civicpulse demo is running (brokers: $CIVICPULSE_BROKERS, logs: $RUN_DIR)
  http://$EXPORTER/metrics   exporter: participation indicators and their expectation
  http://$AGGREGATOR_1/metrics   aggregator 1: pipeline health
  http://$AGGREGATOR_2/metrics   aggregator 2: pipeline health
  http://$SIMULATOR/metrics   simulator
  http://$INGEST/metrics   ingest gateway (POST /v1/events)
  $prometheus_line
The simulator first writes $HISTORY of history (the seasonal expectation needs 3 previous
weeks), with $DROP_AREA at 30% of its usual participation for the last 24 hours ($DROP).
${DURATION:+Running for $DURATION s. }Press Ctrl-C to stop.
MSG

# Show the headline indicators once they are non-zero, then the drop once the expectation is
# ready: the drop area's ratio against the others'.
show_indicators() {
  curl -sf "http://$EXPORTER/metrics" 2>/dev/null |
    grep -E '^civicpulse_(active_participants\{area="all",kind="all"|collective_participation_ratio\{area="all")' |
    grep -v ' 0$' || true
}
show_ratios() {
  curl -sf "http://$EXPORTER/metrics" 2>/dev/null |
    grep -E '^civicpulse_participation_ratio\{area="[^"]*",kind="all",window="1h"\}' || true
}
deadline=$(( $(date +%s) + ${DURATION:-315360000} ))
shown=0
ready=0
while (( $(date +%s) < deadline )); do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a service stopped unexpectedly; see $RUN_DIR"; exit 1; }
  done
  if (( !shown )) && [[ -n $(show_indicators) ]]; then
    echo "Indicators are live:"; show_indicators; shown=1
  fi
  if (( !ready )) && curl -sf "http://$EXPORTER/metrics" 2>/dev/null |
      grep -q "^civicpulse_baseline_ready{area=\"$DROP_AREA\",kind=\"all\"} 1"; then
    ready=1
    echo "The seasonal expectation is ready. Observed / expected events in the last hour:"
    show_ratios | sed 's/^/  /'
    echo "  ($DROP_AREA is the area with the drop)"
    [[ -n $alerts_line ]] && echo "  $alerts_line"
    [[ -n $alerts_line ]] && echo "  http://$PROMETHEUS/graph?g0.expr=civicpulse_participation_ratio%7Bwindow%3D%221h%22%2Ckind%3D%22all%22%7D   the ratio per area"
  fi
  sleep 1
done
(( shown )) || { echo "No indicators yet; see $RUN_DIR"; }
(( ready )) || { echo "The seasonal expectation was not ready yet; see $RUN_DIR"; }
