#!/usr/bin/env bash
# Long-term storage benchmark: compaction throughput, and the same 7-day range queries
# answered by Cairn from blocks in a bucket (store gateway) and by Prometheus 2.42
# holding the identical samples in its TSDB, one after the other on this machine.
#
# 1. components/block/examples/bytes_per_sample.rs writes 7 days of node_exporter-like
#    data (BENCH_NODES hosts, 60s scrapes, ending at the last 2h boundary) as 2h blocks
#    into a filesystem bucket, exactly as ingesters ship them, and the same samples as
#    OpenMetrics text.
# 2. `cairn compact --once` compacts the 84 blocks (2h → 8h → 2d levels); its wall time
#    gives the compaction throughput in samples/s.
# 3. `promtool tsdb create-blocks-from openmetrics` builds Prometheus's blocks from the
#    text; Prometheus starts on them and is left to finish its own start-up compactions.
# 4. `cairn all` starts on the compacted bucket (its store gateway serves the blocks).
# 5. Each query runs BENCH_RUNS times as a 7d range query (step 10m) against both over
#    HTTP, after one warm-up; median and max wall times, and the series count of each
#    answer, go to docs/benchmarks.md between <!-- longterm-bench:start/end -->.
#
# Environment: BENCH_NODES [2]  BENCH_RUNS [5]  BENCH_SKIP_BUILD [0]
#   BENCH_CAIRN_HTTP_PORT [19109]  BENCH_CAIRN_GRPC_PORT [19195]  BENCH_PROM_PORT [19190]
#   BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [/tmp]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=${BENCH_NODES:-2}
RUNS=${BENCH_RUNS:-5}
HTTP_PORT=${BENCH_CAIRN_HTTP_PORT:-19109}
GRPC_PORT=${BENCH_CAIRN_GRPC_PORT:-19195}
PROM_PORT=${BENCH_PROM_PORT:-19190}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/cairn-longterm-bench.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "[bench-longterm] $*" >&2; }

command -v promtool >/dev/null || "$ROOT/scripts/install-test-deps.sh"
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    cargo build --release -q -p cairn --bin cairn --manifest-path "$ROOT/Cargo.toml"
    cargo build --release -q -p cairn-block --example bytes_per_sample --manifest-path "$ROOT/Cargo.toml"
fi
CAIRN="$ROOT/target/release/cairn"
GEN="$ROOT/target/release/examples/bytes_per_sample"

HOUR=3600000
END=$(( $(date +%s) * 1000 / (2 * HOUR) * 2 * HOUR ))
START=$(( END - 7 * 24 * HOUR ))
log "generating 7 days for $NODES hosts"
gen=$(OUT_DIR="$TMP/cairn-data/bucket" TENANT=anonymous BLOCK_HOURS=2 SCRAPE_MS=60000 \
    START_MS=$START "$GEN" "$NODES" 168 --openmetrics "$TMP/data.om")
log "$gen"
samples=$(sed -n 's/.*samples=\([0-9]*\).*/\1/p' <<<"$gen")
series=$(sed -n 's/.*series=\([0-9]*\).*/\1/p' <<<"$gen")

cat >"$TMP/cairn.yaml" <<YAML
data_dir: $TMP/cairn-data
compact:
  consistency_delay: 0s
  downsample_5m_after: 0s
  downsample_1h_after: 0s
  levels: [2h, 8h, 2d, 14d]
YAML
bucket_bytes() { du -sb "$TMP/cairn-data/bucket" | cut -f1; }
before_bytes=$(bucket_bytes)
log "compacting"
t0=$(date +%s.%N)
"$CAIRN" compact --once --config.file "$TMP/cairn.yaml" >"$TMP/compact.log" 2>&1
t1=$(date +%s.%N)
compact_s=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
blocks_after=$("$CAIRN" tools bucket ls --config.file "$TMP/cairn.yaml" --output json | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(1 for b in (d if isinstance(d,list) else d.get('blocks',[])) if not b.get('deletion_mark')))" 2>/dev/null || echo "?")
log "compaction took ${compact_s}s, live blocks after: $blocks_after"

log "building Prometheus blocks"
mkdir -p "$TMP/prom-data"
promtool tsdb create-blocks-from openmetrics "$TMP/data.om" "$TMP/prom-data" >/dev/null
rm -f "$TMP/data.om"
printf 'global:\n' >"$TMP/prometheus.yml"
/usr/bin/prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$PROM_PORT" \
    >"$TMP/prometheus.log" 2>&1 &
PIDS+=($!)
"$CAIRN" all --config.file "$TMP/cairn.yaml" --http.listen "127.0.0.1:$HTTP_PORT" \
    --grpc.listen "127.0.0.1:$GRPC_PORT" >"$TMP/cairn.log" 2>&1 &
PIDS+=($!)

wait_ready() {
    for _ in $(seq 1 300); do
        curl -sf "$1/-/ready" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "not ready: $1" >&2; return 1
}
wait_ready "http://127.0.0.1:$PROM_PORT"
wait_ready "http://127.0.0.1:$HTTP_PORT"
# Prometheus compacts the 2h backfilled blocks after start; wait until that settles.
prev=-1
for _ in $(seq 1 120); do
    n=$(curl -s "http://127.0.0.1:$PROM_PORT/metrics" | awk '/^prometheus_tsdb_compactions_total /{print $2}')
    [[ "$n" == "$prev" ]] && break
    prev=$n; sleep 5
done
log "prometheus compactions settled at $prev"

python3 - "$DOC" "$RUNS" "$NODES" "$series" "$samples" "$compact_s" "$before_bytes" "$(bucket_bytes)" \
    "$START" "$END" "$HTTP_PORT" "$PROM_PORT" <<'PY'
import sys, re, json, time, statistics, datetime, os, platform, urllib.request, urllib.parse
doc, runs, nodes, series, samples, compact_s, b0, b1, start, end, cport, pport = sys.argv[1:13]
runs, samples, start, end = int(runs), int(samples), int(start) // 1000, int(end) // 1000
queries = [
    "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
    "rate(node_network_receive_bytes_total[5m])",
    "max by (instance) (max_over_time(node_memory_active_0_bytes[1h]))",
    "count(up)",
]
def run(port, q):
    qs = urllib.parse.urlencode({"query": q, "start": start, "end": end, "step": "600"})
    t = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_range?{qs}", timeout=300) as r:
        body = json.load(r)
    dt = time.perf_counter() - t
    assert body["status"] == "success", body
    return dt, len(body["data"]["result"]), sum(len(s["values"]) for s in body["data"]["result"])
rows = []
for q in queries:
    res = {}
    for name, port in (("cairn", cport), ("prometheus", pport)):
        run(port, q)  # warm-up
        times, shape = [], None
        for _ in range(runs):
            dt, n, pts = run(port, q)
            times.append(dt); shape = (n, pts)
        res[name] = (statistics.median(times), max(times), shape)
    c, p = res["cairn"], res["prometheus"]
    rows.append(f"| `{q}` | {c[0]*1000:.0f} | {p[0]*1000:.0f} | {c[0]/p[0]:.2f}× | {c[1]*1000:.0f} / {p[1]*1000:.0f} | {c[2][0]} / {p[2][0]} | {c[2][1]} / {p[2][1]} |")
    print(rows[-1], file=sys.stderr)
out = [
    f"Run {datetime.date.today()} on {os.cpu_count()} cores ({platform.machine()}): {nodes} node_exporter-like hosts, "
    f"{int(series):,} series, 7 days at 60s = {samples:,} samples.", "",
    f"Compaction: `cairn compact --once` turned the 84 shipped 2h blocks into 2d/8h blocks in "
    f"**{float(compact_s):.1f} s = {samples/float(compact_s):,.0f} samples/s** "
    f"(bucket {int(b0)/1e6:.1f} MB before, {int(b1)/1e6:.1f} MB after incl. inputs awaiting deletion).", "",
    f"7-day range queries, step 10m, {runs} runs after a warm-up, wall time over HTTP:", "",
    "| query | Cairn median (ms) | Prometheus median (ms) | Cairn/Prometheus | max (ms) Cairn / Prom | series Cairn / Prom | points Cairn / Prom |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
] + rows + [""]
text = open(doc).read()
block = "<!-- longterm-bench:start -->\n" + "\n".join(out) + "<!-- longterm-bench:end -->"
if "<!-- longterm-bench:start -->" in text:
    text = re.sub(r"<!-- longterm-bench:start -->.*?<!-- longterm-bench:end -->", block, text, flags=re.S)
else:
    text += "\n" + block + "\n"
open(doc, "w").write(text)
PY
log "updated $DOC"
