#!/usr/bin/env bash
# Ingest benchmark: Cairn (`cairn all`) against Prometheus 2.42's remote-write receiver,
# one after the other on this machine, driven by cairn-loadgen in flood mode.
#
# For each target: start it on loopback with a fresh temp data dir, wait for
# GET /-/ready = 200, run the load generator for BENCH_DURATION, read the server's peak
# RSS (VmHWM) and the CPU time it used during the load (utime+stime from /proc/<pid>/stat),
# stop it with SIGTERM. Then write the results table into docs/benchmarks.md between the
# markers <!-- ingest-bench:start --> and <!-- ingest-bench:end -->.
#
# Usage: scripts/bench-ingest.sh            (from anywhere; needs cargo, curl, python3)
# Environment (defaults in brackets):
#   BENCH_DURATION [60s]   load duration per target (cairn-loadgen syntax: 30s, 2m, ...)
#   BENCH_SERIES [10000]  BENCH_LABELS [10]  BENCH_METRICS [100]
#   BENCH_CONCURRENCY [4]  BENCH_BATCH_SIZE [2000]
#   BENCH_TARGETS ["cairn prometheus"]  which targets to run (the table shows those run)
#   BENCH_CAIRN_HTTP_PORT [19009]  BENCH_CAIRN_GRPC_PORT [19095]  BENCH_PROM_PORT [19090]
#   BENCH_SKIP_BUILD [0]   1 = use the existing target/release binaries
#   BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [$TMPDIR or /tmp]
#   PROMETHEUS [/usr/bin/prometheus or the one on PATH]; installed with apt-get if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-60s}
SERIES=${BENCH_SERIES:-10000}
LABELS=${BENCH_LABELS:-10}
METRICS=${BENCH_METRICS:-100}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
BATCH_SIZE=${BENCH_BATCH_SIZE:-2000}
TARGETS=${BENCH_TARGETS:-cairn prometheus}
CAIRN_HTTP_PORT=${BENCH_CAIRN_HTTP_PORT:-19009}
CAIRN_GRPC_PORT=${BENCH_CAIRN_GRPC_PORT:-19095}
PROM_PORT=${BENCH_PROM_PORT:-19090}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
CAIRN_BIN=$ROOT/target/release/cairn
LOADGEN_BIN=$ROOT/target/release/cairn-loadgen

BENCH_LOG_NAME=bench-ingest
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bench-ingest.XXXXXX")
SERVER_PID=""

# Stops the running server, if any: SIGTERM, then SIGKILL after 20 s.
stop_server() {
    local pid=$SERVER_PID
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    stop_pid "$pid" 20
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---------------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p cairn -p cairn-loadgen)
fi
[[ -x $CAIRN_BIN && -x $LOADGEN_BIN ]] || die "missing $CAIRN_BIN or $LOADGEN_BIN"

PROMETHEUS=${PROMETHEUS:-}
if [[ " $TARGETS " == *" prometheus "* ]]; then
    if [[ -z $PROMETHEUS ]]; then
        if [[ -x /usr/bin/prometheus ]]; then
            PROMETHEUS=/usr/bin/prometheus
        elif command -v prometheus >/dev/null; then
            PROMETHEUS=$(command -v prometheus)
        else
            log "prometheus not found; installing Debian's package"
            [[ $(id -u) == 0 ]] || die "install prometheus first (apt-get install -y prometheus)"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
            # The package starts a system service on :9090 where an init system runs; the
            # benchmark uses its own instance on $PROM_PORT, so that one is left alone.
            PROMETHEUS=/usr/bin/prometheus
        fi
    fi
    [[ -x $PROMETHEUS ]] || die "$PROMETHEUS is not executable"
fi

# bench NAME READY_URL WRITE_URL -- SERVER_CMD...
# Leaves $WORK/NAME.json (loadgen summary) and $WORK/NAME.server.json (server figures).
bench() {
    local name=$1 ready_url=$2 write_url=$3
    shift 4
    local port
    for port in $(grep -oE '127\.0\.0\.1:[0-9]+' <<<"$*" | cut -d: -f2); do
        port_in_use "$port" && die "port $port is already in use (set BENCH_*_PORT)"
    done

    log "$name: starting: $*"
    "$@" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    local ready=0
    for _ in $(seq 1 600); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited during startup"; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "$ready_url" || true) == 200 ]]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [[ $ready == 1 ]] || { tail -20 "$WORK/$name.log" >&2; die "$name not ready after 60 s"; }

    local load_before ticks_before ticks_after rc=0
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    ticks_before=$(cpu_ticks "$SERVER_PID")
    local loadgen_cmd=("$LOADGEN_BIN" --url "$write_url" --interval 0 --duration "$DURATION"
        --series "$SERIES" --labels "$LABELS" --metrics "$METRICS"
        --concurrency "$CONCURRENCY" --batch-size "$BATCH_SIZE" --json)
    log "$name: ready (pid $SERVER_PID); load: ${loadgen_cmd[*]}"
    "${loadgen_cmd[@]}" >"$WORK/$name.json" 2> >(tee "$WORK/$name.progress" >&2) || rc=$?
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name died under load"; }
    ticks_after=$(cpu_ticks "$SERVER_PID")
    local hwm rss
    hwm=$(vm_kib "$SERVER_PID" VmHWM)
    rss=$(vm_kib "$SERVER_PID" VmRSS)
    # Warnings and errors the server logged while up (Cairn: tracing text; Prometheus:
    # logfmt), counted before SIGTERM so shutdown messages are not included.
    local problems
    problems=$(grep -cE '(^|[^A-Za-z])(WARN|ERROR)([^A-Za-z]|$)|level=(warn|error)' "$WORK/$name.log" || true)
    [[ $problems == 0 ]] || { log "$name: server logged $problems warning/error lines:"; grep -E '(^|[^A-Za-z])(WARN|ERROR)([^A-Za-z]|$)|level=(warn|error)' "$WORK/$name.log" | head -5 >&2; }
    local stop_start stop_end
    stop_start=$(date +%s.%N)
    stop_server
    stop_end=$(date +%s.%N)
    [[ $rc == 0 || $rc == 1 ]] || die "$name: cairn-loadgen failed (exit $rc)"
    [[ -s $WORK/$name.json ]] || die "$name: cairn-loadgen printed no summary"
    [[ $rc == 0 ]] || log "$name: WARNING: some requests failed (see the summary)"

    printf '{"cpu_ticks": %s, "clk_tck": %s, "vm_hwm_kib": %s, "vm_rss_end_kib": %s, "log_problems": %s, "stop_seconds": %s, "loadavg_before": %s}\n' \
        "$((ticks_after - ticks_before))" "$(getconf CLK_TCK)" "$hwm" "$rss" "$problems" \
        "$(awk -v a="$stop_start" -v b="$stop_end" 'BEGIN { printf "%.2f", b - a }')" "$load_before" \
        >"$WORK/$name.server.json"
    printf '%s\n' "$*" >"$WORK/$name.cmd"
    printf '%s\n' "${loadgen_cmd[*]}" >"$WORK/$name.loadgen.cmd"
    log "$name: done: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("{:,.0f} samples/s, errors {}".format(s["samples_per_second"], s["errors"]))' "$WORK/$name.json")"
}

for target in $TARGETS; do
    case $target in
    cairn)
        mkdir -p "$WORK/cairn-data"
        bench cairn "http://127.0.0.1:$CAIRN_HTTP_PORT/-/ready" \
            "http://127.0.0.1:$CAIRN_HTTP_PORT/api/v1/write" -- \
            "$CAIRN_BIN" all --http.listen "127.0.0.1:$CAIRN_HTTP_PORT" \
            --grpc.listen "127.0.0.1:$CAIRN_GRPC_PORT" --data.dir "$WORK/cairn-data"
        ;;
    prometheus)
        mkdir -p "$WORK/prometheus-data"
        printf 'global:\n' >"$WORK/prometheus.yml"
        bench prometheus "http://127.0.0.1:$PROM_PORT/-/ready" \
            "http://127.0.0.1:$PROM_PORT/api/v1/write" -- \
            "$PROMETHEUS" --config.file="$WORK/prometheus.yml" \
            --storage.tsdb.path="$WORK/prometheus-data" \
            --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver
        ;;
    *) die "unknown target $target (expected cairn and/or prometheus)" ;;
    esac
done

# ---------------------------------------------------------------------------------------
log "writing results into $DOC"
export BENCH_WORK=$WORK BENCH_DOC=$DOC BENCH_TARGETS_RUN=$TARGETS BENCH_ROOT=$ROOT
export BENCH_CAIRN_VERSION
BENCH_CAIRN_VERSION="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD -- 2>/dev/null || echo '+uncommitted changes')"
export BENCH_PROM_VERSION
BENCH_PROM_VERSION=$([[ -n $PROMETHEUS ]] && "$PROMETHEUS" --version 2>&1 | head -1 | sed 's/^prometheus, version //' || echo "")
python3 - <<'EOF'
import datetime, json, os, platform, re

work, doc = os.environ["BENCH_WORK"], os.environ["BENCH_DOC"]
root = os.environ["BENCH_ROOT"]
targets = os.environ["BENCH_TARGETS_RUN"].split()
START, END = "<!-- ingest-bench:start -->", "<!-- ingest-bench:end -->"

def load(name):
    server = json.load(open(f"{work}/{name}.server.json"))
    server["cpu_seconds"] = server["cpu_ticks"] / server["clk_tck"]
    return json.load(open(f"{work}/{name}.json")), server

def rel(cmd):
    return cmd.replace(root + "/", "").replace(work, "$TMP")

res = {t: load(t) for t in targets}
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
names = {"cairn": f"Cairn ({os.environ['BENCH_CAIRN_VERSION']})",
         "prometheus": f"Prometheus {os.environ['BENCH_PROM_VERSION'].split(' ')[0]}"}

rows = [
    # (label, function(summary, server) -> number, format, higher is better)
    ("samples/s", lambda s, v: s["samples_per_second"], "{:,.0f}", True),
    ("samples per server CPU-second", lambda s, v: s["samples"] / v["cpu_seconds"] if v["cpu_seconds"] else 0, "{:,.0f}", True),
    ("request latency p50 (ms)", lambda s, v: s["latency_ms"]["p50"], "{:.1f}", False),
    ("request latency p99 (ms)", lambda s, v: s["latency_ms"]["p99"], "{:.1f}", False),
    ("request latency max (ms)", lambda s, v: s["latency_ms"]["max"], "{:.1f}", False),
    ("peak RSS, VmHWM (MiB)", lambda s, v: v["vm_hwm_kib"] / 1024, "{:.0f}", False),
    ("RSS at the end of the load (MiB)", lambda s, v: v["vm_rss_end_kib"] / 1024, "{:.0f}", False),
    ("server CPU during load (s)", lambda s, v: v["cpu_seconds"], "{:.1f}", None),
    ("samples acknowledged", lambda s, v: s["samples"], "{:,}", None),
    ("errors 4xx / 5xx / transport", None, None, None),
    ("server log lines at warn/error level", lambda s, v: v["log_problems"], "{}", None),
    ("load generator CPU (s)", lambda s, v: s.get("client_cpu_seconds") or 0, "{:.1f}", None),
    ("shutdown after SIGTERM (s)", lambda s, v: v["stop_seconds"], "{:.1f}", None),
]
both = "cairn" in res and "prometheus" in res
head = "| | " + " | ".join(names[t] for t in targets) + (" | Cairn / Prometheus |" if both else " |")
lines = [head, "|---" * (len(targets) + 1 + both) + "|"]
for label, f, fmt, better in rows:
    if f is None:
        cells = ["{http_4xx} / {http_5xx} / {transport}".format(**res[t][0]["errors"]) for t in targets]
        ratio = ""
    else:
        vals = [f(*res[t]) for t in targets]
        cells = [fmt.format(v) for v in vals]
        ratio = ""
        if both and better is not None:
            c, p = f(*res["cairn"]), f(*res["prometheus"])
            ratio = f"{c / p:.2f}×" if p else "n/a"
    lines.append(f"| {label} | " + " | ".join(cells) + (f" | {ratio} |" if both else " |"))

s0 = res[targets[0]][0]["settings"]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out = [
    START,
    f"_Generated by `scripts/bench-ingest.sh` on {now}; rerun the script to refresh, do not edit by hand._",
    "",
    f"- **Machine:** {os.cpu_count()} × {cpu_model} (`nproc` = {os.cpu_count()}), "
    f"{mem_kib / 1048576:.0f} GiB RAM, Linux {platform.release()}; 1-min load average just before each run: "
    + ", ".join(f"{t} {res[t][1]['loadavg_before']:.2f}" for t in targets)
    + ". The load generator runs on the same cores as the server.",
    f"- **Workload:** flood mode (`--interval 0`: back-to-back rounds on synthetic time, see "
    f"`components/loadgen/src/lib.rs`), {s0['series']:,} series × {s0['labels']} extra labels over "
    f"{s0['metrics']} metric names, {s0['batch_size']:,} samples per request, {s0['concurrency']} concurrent "
    f"requests, {res[targets[0]][0]['duration_seconds']:.0f} s per target, one target at a time.",
    "- **Measured:** throughput and latency by `cairn-loadgen` (2xx-acknowledged samples only); "
    "peak RSS = the server's `VmHWM` at the end of the run; CPU = the server's utime+stime "
    "(`/proc/<pid>/stat`) during the load only, so samples per CPU-second excludes startup.",
    "",
    *lines,
    "",
    "Ratios are Cairn divided by Prometheus: above 1 is better for Cairn in the throughput rows "
    "and worse in the latency and memory rows.",
    "",
    "Commands (`$TMP` is a fresh temporary directory):",
    "",
    "```sh",
]
for t in targets:
    out.append(f"# {t}")
    if t == "prometheus":
        out.append("printf 'global:\\n' > $TMP/prometheus.yml")
    out.append(rel(open(f"{work}/{t}.cmd").read().strip()))
    out.append(rel(open(f"{work}/{t}.loadgen.cmd").read().strip()))
out += ["```", ""]
for t in targets:
    for cls, body in res[t][0].get("first_errors", {}).items():
        out.append(f"First {cls} error from {t}: `{body[:300]}`")
        out.append("")
out.append(END)
section = "\n".join(out)

if os.path.exists(doc):
    text = open(doc).read()
else:
    os.makedirs(os.path.dirname(doc) or ".", exist_ok=True)
    text = ("# Benchmarks\n\nBenchmarks are run on one machine with the scripts in `scripts/`; every "
            "figure below is written by the script named in its section, not typed in.\n")
if START in text and END in text:
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, count=1, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## Ingest (issue 2)\n\n" + section + "\n"
open(doc, "w").write(text)
EOF
log "done; results in $DOC"
