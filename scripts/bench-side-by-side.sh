#!/usr/bin/env bash
# Side-by-side benchmark (issue 6): the same write and query load against Prometheus 2.42
# and against `cairn all`, one after the other in one run, at several active-series
# counts (100k and 1M by default). Writes the results, the goals and whether each is
# met into docs/benchmarks.md between <!-- side-by-side-bench:start --> and
# <!-- side-by-side-bench:end -->.
#
# Per size, per target (each on a fresh data dir, stopped before the next one starts):
#  1. start it on loopback (Prometheus: remote-write receiver, admin API, no scrape
#     config; Cairn: `cairn all` with default settings)
#  2. write: `cairn-loadgen write` in flood mode, ROUNDS rounds of every series spaced
#     BENCH_FLOOD_STEP apart on synthetic time, starting 50 minutes ago (100k: 60 × 30s
#     = 30 minutes of data; 1M: 12 × 30s = 6 minutes, so the run fits the time budget);
#     both targets get exactly the same samples. The first round creates every series,
#     so with few rounds series creation weighs in the per-sample cost. Measured: the
#     server's CPU time (utime+stime from /proc/<pid>/stat) during the write, so
#     samples per CPU-second = per core, whatever the load generator on the same cores
#     takes.
#  3. settle BENCH_SETTLE seconds, then read VmRSS and VmHWM from /proc/<pid>/status,
#     the server's own head-series gauge, and the on-disk size of the write-ahead data
#     (Prometheus: wal/ + chunks_head/; Cairn: ingester/, i.e. its WAL).
#  4. query: `cairn-loadgen query` with its built-in dashboard set (rate, sum by, topk,
#     avg/count by, max_over_time, histogram_quantile, histogram mean) over
#     [now-1h, now] at steps 15s/30s/60s, BENCH_QUERY_CONCURRENCY in flight:
#     BENCH_QUERY_REQUESTS queries (the same sequence for both targets), or fewer if
#     BENCH_QUERY_DURATION runs out first.
#  5. blocks (BENCH_BLOCKS=1): Prometheus writes its head as a block through
#     POST /api/v1/admin/tsdb/snapshot; Cairn is restarted (WAL replay timed) with
#     `ingest.block_cut_grace: 1m`, `ingest.ship_interval: 5s` and
#     `receive.max_future_skew: 3h`, and one sample past the next 2 h boundary makes it
#     cut and ship the head's ranges to its filesystem bucket. Bytes per sample = block
#     bytes / the blocks' own sample count (meta.json).
#
# Time with the defaults (2 × 6M samples at 100k, 2 × 12M at 1M, four query runs): about
# 9 minutes on an idle 2-core machine, about 35 when other work shares it; 100k alone
# (BENCH_SIZES="100000:60") about a third of that.
#
# Usage: scripts/bench-side-by-side.sh   (needs cargo, curl, python3, prometheus)
# Environment (defaults in brackets):
#   BENCH_SIZES ["100000:60 1000000:12"]  active series per run (histogram buckets count),
#                       each with `:ROUNDS` or without (then BENCH_ROUNDS [20])
#   BENCH_TARGETS ["prometheus cairn"]  order within a size
#   BENCH_FLOOD_STEP [30s]  BENCH_CONCURRENCY [4]  BENCH_BATCH_SIZE [2000]
#   BENCH_LABELS [10]  BENCH_LABEL_VALUES [10,5]  BENCH_METRICS [100]  BENCH_KIND [mixed]
#   BENCH_MIX [2,2,1]  BENCH_HISTOGRAM_BUCKETS [11]   (cairn-loadgen flags of the same name)
#   BENCH_SETTLE [20]   seconds between the end of the write and the memory reading
#   BENCH_QUERY_REQUESTS [270]  BENCH_QUERY_DURATION [5m]  BENCH_QUERY_CONCURRENCY [2]
#   BENCH_BLOCKS [1]    0 = skip step 5
#   BENCH_CAIRN_HTTP_PORT [19009]  BENCH_CAIRN_GRPC_PORT [19095]  BENCH_PROM_PORT [19090]
#   BENCH_SKIP_BUILD [0]  1 = use the existing release binaries
#   CARGO_TARGET_DIR [target]  where the release binaries are built/looked for
#   BENCH_BIN_DIR [$CARGO_TARGET_DIR/release]  take the binaries from here instead
#   BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [$TMPDIR or /tmp]  BENCH_KEEP_WORK [0]
#   PROMETHEUS [/usr/bin/prometheus or the one on PATH]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${BENCH_SIZES:-100000:60 1000000:12}
TARGETS=${BENCH_TARGETS:-prometheus cairn}
DEFAULT_ROUNDS=${BENCH_ROUNDS:-20}
FLOOD_STEP=${BENCH_FLOOD_STEP:-30s}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
BATCH_SIZE=${BENCH_BATCH_SIZE:-2000}
SETTLE=${BENCH_SETTLE:-20}
QUERY_REQUESTS=${BENCH_QUERY_REQUESTS:-270}
QUERY_DURATION=${BENCH_QUERY_DURATION:-5m}
QUERY_CONCURRENCY=${BENCH_QUERY_CONCURRENCY:-2}
BLOCKS=${BENCH_BLOCKS:-1}
CAIRN_HTTP_PORT=${BENCH_CAIRN_HTTP_PORT:-19009}
CAIRN_GRPC_PORT=${BENCH_CAIRN_GRPC_PORT:-19095}
PROM_PORT=${BENCH_PROM_PORT:-19090}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
BIN_DIR=${BENCH_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
CAIRN_BIN=$BIN_DIR/cairn
LOADGEN_BIN=$BIN_DIR/cairn-loadgen
BACKFILL_BIN=$BIN_DIR/cairn-loadgen-backfill
SHAPE=(--labels "${BENCH_LABELS:-10}" --label-values "${BENCH_LABEL_VALUES:-10,5}"
    --metrics "${BENCH_METRICS:-100}" --kind "${BENCH_KIND:-mixed}" --mix "${BENCH_MIX:-2,2,1}"
    --histogram-buckets "${BENCH_HISTOGRAM_BUCKETS:-11}")

BENCH_LOG_NAME=bench-side-by-side
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

for tool in curl python3 du; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bench-side-by-side.XXXXXX")
SERVER_PID=""

# Stops the running server, if any: SIGTERM, then SIGKILL after 60 s.
stop_server() {
    local pid=$SERVER_PID
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    stop_pid "$pid" 60
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    if [[ ${BENCH_KEEP_WORK:-0} == 1 ]]; then
        log "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15; comm may contain spaces).
bytes_of() {
    local total=0 d
    for d in "$@"; do
        [[ -e $d ]] && total=$((total + $(du -sb "$d" | cut -f1)))
    done
    echo "$total"
}
# metric_sum URL NAME: sum of every sample of metric NAME on a /metrics page.
metric_sum() {
    curl -sf "$1" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%.0f\n", s }'
}
now_s() { date +%s.%N; }
# meta_samples GLOB FIELD: the sum of stats.FIELD over the block meta.json files GLOB matches.
meta_samples() {
    python3 -c 'import glob, json, sys; print(sum(json.load(open(f))["stats"][sys.argv[2]] for f in glob.glob(sys.argv[1])))' "$1" "$2"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# start_server NAME READY_URL -- CMD... : starts it in the background, waits for ready.
start_server() {
    local name=$1 ready_url=$2
    shift 3
    log "$name: starting: $*"
    "$@" >>"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 3000); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited during startup"; }
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$ready_url" || true) == 200 ]] && return 0
        sleep 0.1
    done
    tail -20 "$WORK/$name.log" >&2
    die "$name not ready after 300 s"
}

# ---------------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    # `--bin` filters every package given, so name each binary.
    (cd "$ROOT" && cargo build --release -p cairn -p cairn-loadgen \
      --bin cairn --bin cairn-loadgen --bin cairn-loadgen-backfill)
fi
for b in "$CAIRN_BIN" "$LOADGEN_BIN" "$BACKFILL_BIN"; do
    [[ -x $b ]] || die "missing $b (build it, or set CARGO_TARGET_DIR)"
done
find_prometheus
for port in "$CAIRN_HTTP_PORT" "$CAIRN_GRPC_PORT" "$PROM_PORT"; do
    port_in_use "$port" && die "port $port is already in use (set BENCH_*_PORT)"
done

# run_one SIZE ROUNDS TARGET: steps 1-5 for one target; results in $WORK/SIZE.TARGET.*
run_one() {
    local size=$1 rounds=$2 target=$3 id="$1.$3"
    local data="$WORK/$id-data" base write_url metrics_url
    mkdir -p "$data"
    case $target in
    prometheus)
        base="http://127.0.0.1:$PROM_PORT"
        printf 'global:\n' >"$WORK/prometheus.yml"
        start_server "$id" "$base/-/ready" -- "$PROMETHEUS" --config.file="$WORK/prometheus.yml" \
            --storage.tsdb.path="$data" --web.listen-address="127.0.0.1:$PROM_PORT" \
            --web.enable-remote-write-receiver --web.enable-admin-api
        ;;
    cairn)
        base="http://127.0.0.1:$CAIRN_HTTP_PORT"
        start_server "$id" "$base/-/ready" -- "$CAIRN_BIN" all --http.listen "127.0.0.1:$CAIRN_HTTP_PORT" \
            --grpc.listen "127.0.0.1:$CAIRN_GRPC_PORT" --data.dir "$data" --log.level warn
        ;;
    *) die "unknown target $target (expected prometheus and/or cairn)" ;;
    esac
    write_url="$base/api/v1/write"
    metrics_url="$base/metrics"
    local pid=$SERVER_PID rss_start
    rss_start=$(vm_kib "$pid" VmRSS)

    # 2. write
    local write_cmd=("$LOADGEN_BIN" write --url "$write_url" --series "$size" "${SHAPE[@]}"
        --interval 0 --flood-step "$FLOOD_STEP" --rounds "$rounds" --duration 0
        --concurrency "$CONCURRENCY" --batch-size "$BATCH_SIZE" --progress-every 10s --json)
    printf '%s\n' "${write_cmd[*]}" >"$WORK/$id.write.cmd"
    log "$target @ $size: write: ${write_cmd[*]}"
    local t0 t1 ticks0 ticks1 load0 rc=0
    load0=$(cut -d' ' -f1 /proc/loadavg)
    ticks0=$(cpu_ticks "$pid")
    t0=$(now_s)
    "${write_cmd[@]}" >"$WORK/$id.write.json" 2> >(tee "$WORK/$id.write.progress" >&2) || rc=$?
    t1=$(now_s)
    kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$id.log" >&2; die "$target died under write load"; }
    ticks1=$(cpu_ticks "$pid")
    [[ $rc == 0 || $rc == 1 ]] || die "$target: cairn-loadgen write failed (exit $rc)"
    [[ $rc == 0 ]] || log "$target: WARNING: some write requests failed (see the summary)"

    # 3. settle, memory, disk
    log "$target @ $size: settling ${SETTLE}s"
    sleep "$SETTLE"
    local rss hwm head_series appended wal_bytes
    rss=$(vm_kib "$pid" VmRSS)
    hwm=$(vm_kib "$pid" VmHWM)
    if [[ $target == prometheus ]]; then
        head_series=$(metric_sum "$metrics_url" prometheus_tsdb_head_series)
        appended=$(metric_sum "$metrics_url" prometheus_tsdb_head_samples_appended_total)
        wal_bytes=$(bytes_of "$data/wal" "$data/chunks_head")
    else
        head_series=$(metric_sum "$metrics_url" cairn_ingest_head_series)
        appended=$(metric_sum "$metrics_url" cairn_ingest_samples_appended_total)
        wal_bytes=$(bytes_of "$data/ingester")
    fi
    log "$target @ $size: RSS $((rss / 1024)) MiB, HWM $((hwm / 1024)) MiB, head series $head_series, appended $appended, WAL $((wal_bytes / 1048576)) MiB"

    # 4. query
    local query_cmd=("$LOADGEN_BIN" query --url "$base" --series "$size" "${SHAPE[@]}"
        --requests "$QUERY_REQUESTS" --duration "$QUERY_DURATION" --concurrency "$QUERY_CONCURRENCY" --progress-every 10s --json)
    printf '%s\n' "${query_cmd[*]}" >"$WORK/$id.query.cmd"
    log "$target @ $size: query: ${query_cmd[*]}"
    local qticks0 qticks1
    qticks0=$(cpu_ticks "$pid")
    rc=0
    "${query_cmd[@]}" >"$WORK/$id.query.json" 2> >(tee "$WORK/$id.query.progress" >&2) || rc=$?
    qticks1=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$id.log" >&2; die "$target died under query load"; }
    [[ $rc == 0 || $rc == 1 ]] || die "$target: cairn-loadgen query failed (exit $rc)"
    local rss_after_query
    rss_after_query=$(vm_kib "$pid" VmRSS)
    hwm=$(vm_kib "$pid" VmHWM)

    # 5. blocks
    local block_bytes=0 block_samples=0 block_seconds=0 replay_seconds=0 rss_after_replay=0
    if [[ $BLOCKS == 1 && $target == prometheus ]]; then
        local b0 name
        b0=$(now_s)
        name=$(curl -sf -XPOST "$base/api/v1/admin/tsdb/snapshot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])')
        block_seconds=$(elapsed "$b0" "$(now_s)")
        block_bytes=$(bytes_of "$data/snapshots/$name")
        block_samples=$(meta_samples "$data/snapshots/$name/*/meta.json" numSamples)
    fi
    local stop0 stop_seconds
    stop0=$(now_s)
    stop_server
    stop_seconds=$(elapsed "$stop0" "$(now_s)")
    if [[ $BLOCKS == 1 && $target == cairn ]]; then
        cat >"$WORK/cairn-cut.yaml" <<EOF
receive:
  max_future_skew: 3h
ingest:
  block_cut_grace: 1m
  ship_interval: 5s
EOF
        local r0
        r0=$(now_s)
        start_server "$id" "$base/-/ready" -- "$CAIRN_BIN" all --config.file "$WORK/cairn-cut.yaml" \
            --http.listen "127.0.0.1:$CAIRN_HTTP_PORT" --grpc.listen "127.0.0.1:$CAIRN_GRPC_PORT" \
            --data.dir "$data" --log.level warn
        replay_seconds=$(elapsed "$r0" "$(now_s)")
        rss_after_replay=$(vm_kib "$SERVER_PID" VmRSS)
        # One scrape target's worth of samples just past the next 2 h boundary after the
        # data (which ends by now + 5 min) closes every range holding it.
        local tick_ms=$(( ( ($(date +%s) + 300) / 7200 + 1) * 7200000 + 120000 ))
        "$BACKFILL_BIN" --url "$write_url" --instances 1 --start-ms "$tick_ms" --end-ms "$tick_ms" >/dev/null \
            || die "cairn: the sample that closes the block range was refused"
        local b0 want
        b0=$(now_s)
        want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples"])' "$WORK/$id.write.json")
        for _ in $(seq 1 600); do
            block_samples=$(meta_samples "$data/bucket/*/*/meta.json" num_samples)
            [[ $block_samples -ge $want ]] && break
            sleep 1
        done
        block_seconds=$(elapsed "$b0" "$(now_s)")
        [[ $block_samples -ge $want ]] || log "cairn: WARNING: only $block_samples of $want samples in shipped blocks after 600 s"
        block_bytes=$(bytes_of "$data/bucket")
        stop_server
    fi
    log "$target @ $size: blocks $block_bytes bytes, $block_samples samples"

    printf '{"size": %s, "target": "%s", "write_seconds": %s, "cpu_ticks_write": %s, "cpu_ticks_query": %s, "clk_tck": %s, "rss_start_kib": %s, "rss_kib": %s, "hwm_kib": %s, "rss_after_query_kib": %s, "head_series": %s, "appended": %s, "wal_bytes": %s, "block_bytes": %s, "block_samples": %s, "block_seconds": %s, "replay_seconds": %s, "rss_after_replay_kib": %s, "stop_seconds": %s, "loadavg_before": %s}\n' \
        "$size" "$target" "$(elapsed "$t0" "$t1")" "$((ticks1 - ticks0))" "$((qticks1 - qticks0))" "$(getconf CLK_TCK)" \
        "$rss_start" "$rss" "$hwm" "$rss_after_query" "$head_series" "$appended" "$wal_bytes" \
        "$block_bytes" "$block_samples" "$block_seconds" "$replay_seconds" "$rss_after_replay" "$stop_seconds" "$load0" \
        >"$WORK/$id.server.json"
    rm -rf "$data"
}

RUN_START=$(date +%s)
RUN_SIZES=""
for spec in $SIZES; do
    size=${spec%%:*}
    rounds=$DEFAULT_ROUNDS
    [[ $spec == *:* ]] && rounds=${spec#*:}
    [[ $size =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] || die "bad BENCH_SIZES entry $spec (want SERIES or SERIES:ROUNDS)"
    RUN_SIZES="$RUN_SIZES $size"
    for target in $TARGETS; do
        run_one "$size" "$rounds" "$target"
    done
done
log "all runs done in $(($(date +%s) - RUN_START)) s"

# ---------------------------------------------------------------------------------------
log "writing results into $DOC"
export BENCH_WORK=$WORK BENCH_DOC=$DOC BENCH_ROOT=$ROOT BENCH_SIZES_RUN=$RUN_SIZES BENCH_TARGETS_RUN=$TARGETS
export BENCH_TOTAL_SECONDS=$(($(date +%s) - RUN_START)) BENCH_BLOCKS=$BLOCKS BENCH_BIN_DIR=$BIN_DIR
export BENCH_CAIRN_VERSION
BENCH_CAIRN_VERSION="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo '+uncommitted changes')"
export BENCH_PROM_VERSION
BENCH_PROM_VERSION=$("$PROMETHEUS" --version 2>&1 | head -1 | sed 's/^prometheus, version //')
python3 "$ROOT/scripts/bench_side_by_side_report.py"
log "done; results in $DOC"
