#!/usr/bin/env bash
# `make bench`: the five Google Benchmark harnesses, then the end-to-end pipeline benchmark,
# then a summary of the figures bench/README.md reports. A few minutes on 2 cores.
#
#   bench/run.sh [build-dir]
#   MIN_TIME=0.5 (seconds per benchmark; some set their own), PIPELINE=0 skips the pipeline,
#   N/PARTITIONS/AREAS/PARTICIPANTS pass through to bench/pipeline_throughput.sh,
#   FRESHNESS=0 skips bench/freshness.py (produce to /metrics at 50k events/s for 60 s).
# Full outputs go to <build-dir>/bench/results/ (Google Benchmark JSON and the pipeline log).
set -euo pipefail
BUILD=${1:-build}
MIN_TIME=${MIN_TIME:-0.5}
PIPELINE=${PIPELINE:-1}
FRESHNESS=${FRESHNESS:-1}
here=$(cd "$(dirname "$0")" && pwd)
results="$BUILD/bench/results"
mkdir -p "$results"

for b in codec sketch engine exporter router; do
  [[ -x $BUILD/bench/${b}_benchmark ]] || {
    echo "missing $BUILD/bench/${b}_benchmark (cmake --build $BUILD --target ${b}_benchmark)" >&2
    exit 1
  }
done

echo "== machine: $(nproc) cores, $(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for b in codec sketch engine exporter router; do
  echo "== ${b}_benchmark"
  "$BUILD/bench/${b}_benchmark" --benchmark_min_time="$MIN_TIME" \
    --benchmark_counters_tabular=true \
    --benchmark_out="$results/$b.json" --benchmark_out_format=json
done

if [[ $PIPELINE == 1 ]]; then
  # A replayed week in both formats (sparse: what a restarted aggregator re-reads), then the
  # same number of JSON events packed into one hour (dense).
  : >"$results/pipeline.log"
  for run in "7d:json protobuf" "1h:json"; do
    echo "== HISTORY=${run%%:*} FORMATS=\"${run#*:}\" bench/pipeline_throughput.sh"
    HISTORY=${run%%:*} FORMATS=${run#*:} "$here/pipeline_throughput.sh" "$BUILD" 2>&1 |
      tee -a "$results/pipeline.log"
  done
fi

if [[ $FRESHNESS == 1 ]]; then
  echo "== bench/freshness.py --rate 50000 --duration 60"
  /usr/bin/python3 "$here/freshness.py" --bin-dir "$BUILD/bin" --rate 50000 --duration 60 2>&1 |
    grep -v '|rdkafka#' | tee "$results/freshness.log" || true
fi

echo
echo "== summary (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$results" <<'PY'
import json, os, re, sys
results = sys.argv[1]

def load(name):
    path = os.path.join(results, name + ".json")
    with open(path) as f:
        # "BM_Apply/min_time:2.000" -> "BM_Apply": drop the run-setting suffixes.
        return {"/".join(p for p in b["name"].split("/")
                         if not re.match(r"(min_time|iterations|repeats):", p)): b
                for b in json.load(f)["benchmarks"]
                if b.get("run_type", "iteration") == "iteration"}

def eps(b):
    return b.get("items_per_second", 0.0)

codec, sketch, engine = load("codec"), load("sketch"), load("engine")
print("codec (events/s on one core, each counting events per area):")
base = codec.get("ceiling_insitu_pooled")
for name in ("ceiling_insitu_pooled", "ceiling_insitu_fresh", "codec_json", "codec_protobuf"):
    if name in codec:
        b = codec[name]
        print("  %-24s %12.0f  %5.0f B/event  %.2fx bare ParseInsitu"
              % (name, eps(b), b.get("bytes_per_event", 0), eps(b) / eps(base)))

print("engine (events/s on one core):")
for name in ("BM_BaselineHashCount", "BM_Apply", "BM_ApplyAndPublish",
             "BM_DecodeAndApply/json", "BM_DecodeAndApply/protobuf", "BM_DecodeAheadAndApply"):
    if name in engine:
        b = engine[name]
        extra = ""
        if name != "BM_BaselineHashCount" and "BM_BaselineHashCount" in engine:
            extra += "  %.2fx hash-map count" % (eps(b) / eps(engine["BM_BaselineHashCount"]))
        if name != "BM_BaselineHashCount":
            extra += "  %.2fx the 1M/s target, %.0fx Flink Nexmark's ~22k/s/core" % (
                eps(b) / 1e6, eps(b) / 22e3)
        print("  %-28s %10.0f%s" % (name, eps(b), extra))
if "BM_StateMemory7Days" in engine:
    b = engine["BM_StateMemory7Days"]
    print("  state for 1M participants, 200 areas, 7 days: %.1f MiB (target < 256 MiB), "
          "%.0f B/participant, %.0f cells"
          % (b["state_MiB"], b["bytes_per_participant"], b["cells"]))
if "BM_Compute" in engine:
    b = engine["BM_Compute"]
    print("  IndicatorStore::Compute from scratch over that state: %.1f ms CPU"
          % (b["cpu_time"] if b.get("time_unit") == "ms" else b["cpu_time"] / 1e6))

router = load("router")
print("aggregator RecordRouter (records/s, wall clock; lanes = --apply-threads):")
for name, b in router.items():
    print("  %-28s %10.0f  %.2fx one lane" % (name, eps(b), b.get("vs_one_lane", 0)))

exporter = load("exporter")
def ms(b):
    return b["cpu_time"] if b.get("time_unit") == "ms" else b["cpu_time"] / 1e6
print("exporter (CPU ms per call; targets < 100 ms):")
for name, b in exporter.items():
    extra = ""
    for counter in ("vs_scratch", "vs_collect", "series", "records_per_merge", "store_MiB"):
        if counter in b:
            extra += "  %s=%.4g" % (counter, b[counter])
    print("  %-28s %10.2f ms CPU, %10.2f ms wall%s" % (name, ms(b), b["real_time"] if b.get("time_unit") == "ms" else b["real_time"] / 1e6, extra))

print("sketch:")
set_rate = eps(sketch.get("BM_BaselineFlatHashSet", {}))
for name, b in sketch.items():
    unit = b.get("time_unit", "ns")
    line = "  %-24s %10.1f %s/op" % (name, b["real_time"], unit)
    if eps(b):
        line += "  %12.0f items/s" % eps(b)
        if set_rate and name == "BM_AddExact":
            line += "  %.2fx flat_hash_set insert" % (eps(b) / set_rate)
    print(line)

pipeline = os.path.join(results, "pipeline.log")
if os.path.exists(pipeline):
    print("pipeline (end to end, embedded broker, aggregator vs raw librdkafka consumer):")
    for line in open(pipeline):
        if line.startswith("RESULT "):
            r = dict(kv.split("=") for kv in line.split()[1:])
            print("  %-8s over %-3s %s events (%s B each): aggregator %s events/s, raw consumer "
                  "%s events/s, ratio %s; %s aggregate records published per event; "
                  "aggregator %s CPU s, broker %s CPU s; raw consumer %s CPU s (the aggregator "
                  "%sx its CPU an event; the ratio its CPU and the broker's allow on all cores: %s)"
                  % (r["format"], r["history"], r["events"], r["bytes_per_event"],
                     r["aggregator_eps"], r["ceiling_eps"], r["ratio"],
                     r["published_per_event"], r["aggregator_cpu_s"], r["broker_cpu_s"],
                     r["ceiling_cpu_s"], r["cpu_vs_ceiling"], r["ratio_cpu_bound"]))

freshness = os.path.join(results, "freshness.log")
if os.path.exists(freshness):
    for line in open(freshness):
        if line.startswith("freshness "):
            r = dict(kv.split("=") for kv in line.split()[1:])
            print("freshness (produce to visible in /metrics, %s events/s achieved for %s): "
                  "p50 %s, p90 %s, p99 %s (target < 2 s), max %s; load %s"
                  % (r["achieved"], r["duration"], r["p50"], r["p90"], r["p99"], r["max"],
                     r["load"]))
PY
