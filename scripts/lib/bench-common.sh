# Shared helpers of the benchmark scripts; source it after setting BENCH_LOG_NAME.
#   log MSG…            to stderr as "[BENCH_LOG_NAME HH:MM:SS] MSG"
#   die MSG…            log "error: MSG" and exit 1
#   port_in_use PORT    whether something listens on 127.0.0.1:PORT
#   cpu_ticks PID       utime + stime of PID in clock ticks
#   vm_kib PID KEY      a /proc/PID/status value in KiB (VmRSS, VmHWM)
#   stop_pid PID SECS   SIGTERM, then SIGKILL after SECS seconds; waits for it
#   find_prometheus     sets PROMETHEUS ($PROMETHEUS, /usr/bin/prometheus, or PATH)

log() { printf '[%s %s] %s\n' "${BENCH_LOG_NAME:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fields 14 and 15 of /proc/<pid>/stat, counted after the parenthesised command name.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

stop_pid() {
    local pid=$1 grace=$2
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((grace * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for $grace s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

find_prometheus() {
    PROMETHEUS=${PROMETHEUS:-}
    if [[ -z $PROMETHEUS ]]; then
        if [[ -x /usr/bin/prometheus ]]; then
            PROMETHEUS=/usr/bin/prometheus
        else
            PROMETHEUS=$(command -v prometheus || true)
        fi
    fi
    [[ -n $PROMETHEUS && -x $PROMETHEUS ]] || die "prometheus not found (apt-get install -y prometheus)"
}
