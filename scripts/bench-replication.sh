#!/usr/bin/env bash
# Replication benchmark: ingest through one `cairn receive` into three `cairn ingest`
# processes at RF=1 and at RF=3 (write quorum 2), one after the other on this machine,
# driven by cairn-loadgen in flood mode. Records acknowledged samples/s, request latency
# p50/p99 and the ingesters' CPU time into docs/benchmarks.md between
# <!-- replication-bench:start --> and <!-- replication-bench:end -->.
#
# Environment: BENCH_DURATION [30s]  BENCH_SERIES [10000]  BENCH_CONCURRENCY [4]
#   BENCH_BATCH_SIZE [2000]  BENCH_SKIP_BUILD [0]  BENCH_BASE_PORT [19400]
#   BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [/tmp]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-30s}
SERIES=${BENCH_SERIES:-10000}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
BATCH_SIZE=${BENCH_BATCH_SIZE:-2000}
BASE=${BENCH_BASE_PORT:-19400}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/cairn-replication-bench.XXXXXX")
PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap 'stop_all; rm -rf "$TMP"' EXIT
BENCH_LOG_NAME=bench-replication
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    cargo build --release -q -p cairn -p cairn-loadgen --manifest-path "$ROOT/Cargo.toml"
fi
CAIRN="$ROOT/target/release/cairn"
LOADGEN="$ROOT/target/release/cairn-loadgen"

wait_ready() {
    for _ in $(seq 1 300); do
        curl -sf "$1/-/ready" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "not ready: $1" >&2; return 1
}

run() {
    local rf=$1 ingesters=() i
    for i in 0 1 2; do
        "$CAIRN" ingest --data.dir "$TMP/rf$rf-ing$i" --http.listen "127.0.0.1:$((BASE + 10 + i))" \
            --grpc.listen "127.0.0.1:$((BASE + 20 + i))" >"$TMP/rf$rf-ing$i.log" 2>&1 &
        PIDS+=($!)
        ingesters+=("127.0.0.1:$((BASE + 20 + i))")
    done
    local ing_pids=("${PIDS[@]}")
    "$CAIRN" receive --http.listen "127.0.0.1:$BASE" --grpc.listen "127.0.0.1:$((BASE + 1))" \
        --receive.ingesters "$(IFS=,; echo "${ingesters[*]}")" --receive.replication-factor "$rf" \
        >"$TMP/rf$rf-recv.log" 2>&1 &
    PIDS+=($!)
    local recv_pid=$!
    for i in 0 1 2; do wait_ready "http://127.0.0.1:$((BASE + 10 + i))"; done
    wait_ready "http://127.0.0.1:$BASE"
    local before=0 after=0 p
    for p in "${ing_pids[@]}"; do before=$((before + $(cpu_ticks "$p"))); done
    local recv_before; recv_before=$(cpu_ticks "$recv_pid")
    log "RF=$rf: loading for $DURATION"
    "$LOADGEN" --url "http://127.0.0.1:$BASE/api/v1/write" --interval 0 --duration "$DURATION" \
        --series "$SERIES" --concurrency "$CONCURRENCY" --batch-size "$BATCH_SIZE" --json >"$TMP/rf$rf.json"
    for p in "${ing_pids[@]}"; do after=$((after + $(cpu_ticks "$p"))); done
    local recv_after; recv_after=$(cpu_ticks "$recv_pid")
    echo "$(( after - before )) $(( recv_after - recv_before ))" >"$TMP/rf$rf.cpu"
    stop_all
}

run 1
run 3
python3 - "$DOC" "$TMP" "$DURATION" "$SERIES" "$CONCURRENCY" "$BATCH_SIZE" "$(getconf CLK_TCK)" <<'PY'
import sys, json, re, datetime, os, platform
doc, tmp, duration, series, conc, batch, hz = sys.argv[1:8]
hz = int(hz)
rows = {}
for rf in (1, 3):
    j = json.load(open(f"{tmp}/rf{rf}.json"))
    ing, recv = (int(x) / hz for x in open(f"{tmp}/rf{rf}.cpu").read().split())
    e = j["errors"]
    rows[rf] = (j["samples_per_second"], j["latency_ms"]["p50"], j["latency_ms"]["p99"], ing, recv,
                e["http_4xx"] + e["http_5xx"] + e["other_status"] + e["transport"], j["samples"])
out = [f"Run {datetime.date.today()} on {os.cpu_count()} cores ({platform.machine()}): one receiver, three ingesters, "
       f"all on this machine; cairn-loadgen flood, {series} series, {conc} connections, {batch} samples per request, {duration} per run.", "",
       "| | RF=1 | RF=3 (quorum 2) | RF=3 / RF=1 |", "| --- | ---: | ---: | ---: |"]
names = ["acknowledged samples/s", "request latency p50 (ms)", "request latency p99 (ms)",
         "ingester CPU, all three (s)", "receiver CPU (s)", "failed requests", "samples acknowledged"]
for i, n in enumerate(names):
    a, b = rows[1][i], rows[3][i]
    ratio = f"{b / a:.2f}×" if a and i < 5 else ""
    fmt = (lambda v: f"{v:,.0f}") if i in (0, 6) else (lambda v: f"{v:.1f}")
    out.append(f"| {n} | {fmt(a)} | {fmt(b)} | {ratio} |")
out += ["", "Every acknowledged sample at RF=3 is in at least two ingesters' WALs before the 2xx; "
        "on two cores the three ingesters compete with the receiver and the load generator, so "
        "RF=3 costs about three times the ingester CPU per sample.", "",
        "Command: `scripts/bench-replication.sh`", ""]
text = open(doc).read()
block = "<!-- replication-bench:start -->\n" + "\n".join(out) + "<!-- replication-bench:end -->"
if "<!-- replication-bench:start -->" in text:
    text = re.sub(r"<!-- replication-bench:start -->.*?<!-- replication-bench:end -->", block, text, flags=re.S)
else:
    text += "\n## Replicated ingest (RF=1 vs RF=3)\n\n" + block + "\n"
open(doc, "w").write(text)
PY
log "updated $DOC"
