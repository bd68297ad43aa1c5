#!/usr/bin/env bash
# Query benchmark: Cairn (`cairn all`) against Prometheus 2.42 on the same data, same
# machine, same run.
#
# Starts both servers on loopback with fresh temp data dirs, writes the same historical
# data set into both through remote write (cairn-loadgen-backfill: ≈10,000 series × 1 h
# at 15 s — counters, gauges, classic histogram buckets; see
# components/loadgen/src/backfill.rs), waits until both return every series, then runs
# each range query BENCH_RUNS times against each server, alternating the servers, over
# HTTP with keep-alive, timing the full response (body read included). Writes per-query
# median and p99 latency, the Cairn/Prometheus ratio and a same-number-of-series check
# into docs/benchmarks.md between <!-- query-bench:start --> and <!-- query-bench:end -->.
#
# Usage: scripts/bench-query.sh            (from anywhere; needs cargo, curl, python3)
# Environment (defaults in brackets):
#   BENCH_RUNS [20]        timed runs per query and server (after BENCH_WARMUP [2] untimed)
#   BENCH_INSTANCES [200]  scrape targets (50 series each)
#   BENCH_CAIRN_HTTP_PORT [19009]  BENCH_CAIRN_GRPC_PORT [19095]  BENCH_PROM_PORT [19090]
#   BENCH_SKIP_BUILD [0]   1 = use the existing target/release binaries
#   BENCH_QUERIES          only run queries whose name contains this string
#   BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [$TMPDIR or /tmp]
#   BENCH_KEEP [0]         1 = leave both servers running after the measurements (for
#                          profiling; the script prints their pids and waits for Ctrl-C)
#   PROMETHEUS [/usr/bin/prometheus or the one on PATH]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-2}
INSTANCES=${BENCH_INSTANCES:-200}
CAIRN_HTTP_PORT=${BENCH_CAIRN_HTTP_PORT:-19009}
CAIRN_GRPC_PORT=${BENCH_CAIRN_GRPC_PORT:-19095}
PROM_PORT=${BENCH_PROM_PORT:-19090}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
CAIRN_BIN=$ROOT/target/release/cairn
BACKFILL_BIN=$ROOT/target/release/cairn-loadgen-backfill

BENCH_LOG_NAME=bench-query
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bench-query.XXXXXX")
PIDS=()

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p cairn -p cairn-loadgen)
fi
[[ -x $CAIRN_BIN && -x $BACKFILL_BIN ]] || die "missing $CAIRN_BIN or $BACKFILL_BIN"

find_prometheus

for port in "$CAIRN_HTTP_PORT" "$CAIRN_GRPC_PORT" "$PROM_PORT"; do
    port_in_use "$port" && die "port $port is already in use (set BENCH_*_PORT)"
done

# start NAME READY_URL -- CMD...
start() {
    local name=$1 ready_url=$2
    shift 3
    log "$name: starting: $*"
    printf '%s\n' "$*" >"$WORK/$name.cmd"
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    local pid=$!
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited during startup"; }
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$ready_url" || true) == 200 ]] && { echo "$pid" >"$WORK/$name.pid"; return; }
        sleep 0.1
    done
    tail -20 "$WORK/$name.log" >&2
    die "$name not ready after 60 s"
}

mkdir -p "$WORK/cairn-data" "$WORK/prometheus-data"
printf 'global:\n' >"$WORK/prometheus.yml"
start cairn "http://127.0.0.1:$CAIRN_HTTP_PORT/-/ready" -- \
    "$CAIRN_BIN" all --http.listen "127.0.0.1:$CAIRN_HTTP_PORT" \
    --grpc.listen "127.0.0.1:$CAIRN_GRPC_PORT" --data.dir "$WORK/cairn-data" --log.level warn
start prometheus "http://127.0.0.1:$PROM_PORT/-/ready" -- \
    "$PROMETHEUS" --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/prometheus-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver

# One hour of data ending two minutes ago (aligned to the interval), so it sits in both
# heads and no sample is in the future.
NOW_MS=$(($(date +%s) * 1000))
END_MS=$(((NOW_MS - 120000) / 15000 * 15000))
START_MS=$((END_MS - 3600000))
for target in cairn prometheus; do
    port=$CAIRN_HTTP_PORT
    [[ $target == prometheus ]] && port=$PROM_PORT
    cmd=("$BACKFILL_BIN" --url "http://127.0.0.1:$port/api/v1/write" --instances "$INSTANCES"
        --start-ms "$START_MS" --end-ms "$END_MS")
    log "$target: backfill: ${cmd[*]}"
    "${cmd[@]}" >"$WORK/$target.backfill.json" || die "$target: backfill failed"
    printf '%s\n' "${cmd[*]}" >"$WORK/$target.backfill.cmd"
    log "$target: $(cat "$WORK/$target.backfill.json")"
done

export BENCH_WORK=$WORK BENCH_DOC=$DOC BENCH_ROOT=$ROOT BENCH_RUNS=$RUNS BENCH_WARMUP=$WARMUP
export BENCH_START_MS=$START_MS BENCH_END_MS=$END_MS BENCH_QUERIES=${BENCH_QUERIES:-}
export BENCH_CAIRN_URL="http://127.0.0.1:$CAIRN_HTTP_PORT" BENCH_PROM_URL="http://127.0.0.1:$PROM_PORT"
export BENCH_CAIRN_VERSION
BENCH_CAIRN_VERSION="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo '+uncommitted changes')"
export BENCH_PROM_VERSION
BENCH_PROM_VERSION=$("$PROMETHEUS" --version 2>&1 | head -1 | sed 's/^prometheus, version //')
export BENCH_EXPECT_SERIES=$((INSTANCES * 50))
python3 - <<'EOF'
import datetime, http.client, json, os, platform, re, sys, time, urllib.parse

env = os.environ
work, doc, root = env["BENCH_WORK"], env["BENCH_DOC"], env["BENCH_ROOT"]
runs, warmup = int(env["BENCH_RUNS"]), int(env["BENCH_WARMUP"])
start_ms, end_ms = int(env["BENCH_START_MS"]), int(env["BENCH_END_MS"])
START, END = "<!-- query-bench:start -->", "<!-- query-bench:end -->"
targets = {"cairn": env["BENCH_CAIRN_URL"], "prometheus": env["BENCH_PROM_URL"]}

def log(msg):
    print(f"[bench-query] {msg}", file=sys.stderr, flush=True)

conns = {}
def get(target, path, params):
    """GET with a kept-alive connection; returns (seconds, status, body)."""
    u = urllib.parse.urlparse(targets[target])
    if target not in conns:
        conns[target] = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    c = conns[target]
    url = path + "?" + urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    c.request("GET", url)
    r = c.getresponse()
    body = r.read()
    return time.perf_counter() - t0, r.status, body

# Wait until both answer with every series of the data set at the end time.
want = int(env["BENCH_EXPECT_SERIES"])
q = 'count({__name__=~"up|bench_.+"})'
deadline = time.time() + 120
for t in targets:
    while True:
        _, status, body = get(t, "/api/v1/query", {"query": q, "time": end_ms / 1000})
        got = 0
        if status == 200:
            res = json.loads(body)["data"]["result"]
            got = int(float(res[0]["value"][1])) if res else 0
        if got == want:
            log(f"{t}: {got} series visible")
            break
        if time.time() > deadline:
            sys.exit(f"{t}: only {got} of {want} series visible after 120 s: {body[:300]!r}")
        time.sleep(0.5)

hq = "histogram_quantile(0.99, sum by (job, le) (rate(bench_request_duration_seconds_bucket[5m])))"
queries = [
    ("selector", "bench_memory_bytes"),
    ("rate", "rate(bench_http_requests_total[5m])"),
    ("sum_by_rate", "sum by (job) (rate(bench_http_requests_total[5m]))"),
    ("histogram_quantile", hq),
    ("join", "rate(bench_http_requests_total[5m]) * on(instance) group_left up"),
]
only = env.get("BENCH_QUERIES", "")
cases = [(f"{n} @{s}s", q, s) for n, q in queries for s in (15, 60) if only in f"{n} @{s}s"]

def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

results = []
for name, q, step in cases:
    params = {"query": q, "start": start_ms / 1000, "end": end_ms / 1000, "step": step}
    times = {t: [] for t in targets}
    series = {}
    points = {}
    for i in range(warmup + runs):
        for t in targets:
            secs, status, body = get(t, "/api/v1/query_range", params)
            if status != 200:
                sys.exit(f"{t}: {name}: HTTP {status}: {body[:300]!r}")
            if i == 0:
                res = json.loads(body)["data"]["result"]
                series[t] = len(res)
                points[t] = sum(len(s["values"]) for s in res)
                sizes = len(body)
            if i >= warmup:
                times[t].append(secs)
    row = {"name": name, "query": q, "step": step, "series": series, "points": points}
    for t in targets:
        row[t] = {"median": pct(times[t], 0.5) * 1000, "p99": pct(times[t], 0.99) * 1000}
    results.append(row)
    log(f"{name}: cairn {row['cairn']['median']:.1f} ms, prometheus {row['prometheus']['median']:.1f} ms, "
        f"series {series['cairn']}/{series['prometheus']}, points {points['cairn']}/{points['prometheus']}")
json.dump(results, open(f"{work}/results.json", "w"), indent=1)

def rel(cmd):
    return cmd.replace(root + "/", "").replace(work, "$TMP")

cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines = [
    "| query | step | Cairn median (ms) | Cairn p99 (ms) | Prometheus median (ms) | Prometheus p99 (ms) | Cairn / Prometheus (median) | series (Cairn / Prometheus) |",
    "|---|---|---|---|---|---|---|---|",
]
for r in results:
    c, p = r["cairn"], r["prometheus"]
    same = "✓" if r["series"]["cairn"] == r["series"]["prometheus"] else "✗ MISMATCH"
    lines.append(
        f"| {r['name'].split(' @')[0]} | {r['step']}s | {c['median']:.1f} | {c['p99']:.1f} | "
        f"{p['median']:.1f} | {p['p99']:.1f} | {c['median'] / p['median']:.2f}× | "
        f"{r['series']['cairn']:,} / {r['series']['prometheus']:,} {same} |")
out = [
    START,
    f"_Generated by `scripts/bench-query.sh` on {now}; rerun the script to refresh, do not edit by hand._",
    "",
    f"- **Versions:** Cairn {env['BENCH_CAIRN_VERSION']}, Prometheus {env['BENCH_PROM_VERSION'].split(' ')[0]}.",
    f"- **Machine:** {os.cpu_count()} × {cpu_model}, Linux {platform.release()}; both servers and the "
    "client run at the same time on the same cores (only one query is in flight at a time).",
    f"- **Data:** {want:,} series (counters, gauges, classic histogram buckets) × 1 h at 15 s, "
    "written into both through remote write in time order by `cairn-loadgen-backfill`.",
    f"- **Measured:** {runs} timed runs per query and server after {warmup} warm-up runs, servers "
    "alternating; latency = HTTP request sent → full JSON body read (Python `http.client`, "
    "keep-alive). Every query is a `query_range` over the whole hour.",
    "",
    *lines,
    "",
    "Queries:",
    "",
    *[f"- `{n}`: `{q}`" for n, q in queries],
    "",
    "Commands (`$TMP` is a fresh temporary directory):",
    "",
    "```sh",
    "scripts/bench-query.sh",
    "# which runs",
    rel(open(f"{work}/cairn.cmd").read().strip()),
    "printf 'global:\\n' > $TMP/prometheus.yml",
    rel(open(f"{work}/prometheus.cmd").read().strip()),
    rel(open(f"{work}/cairn.backfill.cmd").read().strip()),
    rel(open(f"{work}/prometheus.backfill.cmd").read().strip()),
    "```",
    END,
]
section = "\n".join(out)
text = open(doc).read()
if START in text and END in text:
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, count=1, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## Query latency\n\n" + section + "\n"
open(doc, "w").write(text)
log(f"results written into {doc}")
EOF

if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    log "servers left running: cairn pid $(cat "$WORK/cairn.pid") http :$CAIRN_HTTP_PORT, prometheus pid $(cat "$WORK/prometheus.pid") :$PROM_PORT; start=$START_MS end=$END_MS; Ctrl-C to stop"
    # Waiting on a background sleep lets the INT/TERM traps run at once.
    while true; do
        sleep 3600 &
        wait $!
    done
fi
