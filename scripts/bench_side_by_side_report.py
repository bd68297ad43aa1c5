"""Renders the results of scripts/bench-side-by-side.sh into docs/benchmarks.md.

Reads $BENCH_WORK/<size>.<target>.{write,query,server}.json and the commands next to
them; replaces the section between <!-- side-by-side-bench:start --> and
<!-- side-by-side-bench:end --> (or appends it under a new heading).
"""

import datetime
import json
import os
import platform
import re

env = os.environ
work, doc, root = env["BENCH_WORK"], env["BENCH_DOC"], env["BENCH_ROOT"]
sizes = [int(s) for s in env["BENCH_SIZES_RUN"].split()]
targets = env["BENCH_TARGETS_RUN"].split()
blocks = env.get("BENCH_BLOCKS", "1") == "1"
START, END = "<!-- side-by-side-bench:start -->", "<!-- side-by-side-bench:end -->"
NAMES = {
    "cairn": f"Cairn ({env['BENCH_CAIRN_VERSION']})",
    "prometheus": f"Prometheus {env['BENCH_PROM_VERSION'].split(' ')[0]}",
}


def load(size, target):
    p = f"{work}/{size}.{target}"
    w = json.load(open(f"{p}.write.json"))
    q = json.load(open(f"{p}.query.json"))
    s = json.load(open(f"{p}.server.json"))
    s["cpu_write"] = s["cpu_ticks_write"] / s["clk_tck"]
    s["cpu_query"] = s["cpu_ticks_query"] / s["clk_tck"]
    return {"write": w, "query": q, "server": s}


res = {(z, t): load(z, t) for z in sizes for t in targets}
both = "cairn" in targets and "prometheus" in targets


def per_core(r):
    return r["write"]["samples"] / r["server"]["cpu_write"] if r["server"]["cpu_write"] else 0


def rss_per_series(r):
    return r["server"]["rss_kib"] * 1024 / r["write"]["active_series"]


def hwm_per_series(r):
    return r["server"]["hwm_kib"] * 1024 / r["write"]["active_series"]


def wal_per_sample(r):
    return r["server"]["wal_bytes"] / r["write"]["samples"] if r["write"]["samples"] else 0


def block_per_sample(r):
    s = r["server"]
    return s["block_bytes"] / s["block_samples"] if s["block_samples"] else 0


# (label, value function, format, better: "high" | "low" | None)
ROWS = [
    ("active series written (loadgen)", lambda r: r["write"]["active_series"], "{:,}", None),
    ("head series reported by the server", lambda r: r["server"]["head_series"], "{:,}", None),
    ("samples acknowledged", lambda r: r["write"]["samples"], "{:,}", None),
    ("samples appended (server's own counter)", lambda r: r["server"]["appended"], "{:,}", None),
    ("write errors (requests)", lambda r: r["write"]["errors"]["http_4xx"] + r["write"]["errors"]["http_5xx"]
     + r["write"]["errors"]["other_status"] + r["write"]["errors"]["transport"], "{:,}", None),
    ("write wall time (s)", lambda r: r["server"]["write_seconds"], "{:.1f}", "low"),
    ("samples/s (wall clock, machine shared with the load generator)",
     lambda r: r["write"]["samples_per_second"], "{:,.0f}", "high"),
    ("server CPU during the write (s)", lambda r: r["server"]["cpu_write"], "{:.1f}", "low"),
    ("**samples per server CPU-second (per core)**", per_core, "{:,.0f}", "high"),
    ("write request latency p50 (ms)", lambda r: r["write"]["latency_ms"]["p50"], "{:.1f}", "low"),
    ("write request latency p99 (ms)", lambda r: r["write"]["latency_ms"]["p99"], "{:.1f}", "low"),
    ("RSS after the write settled (MiB)", lambda r: r["server"]["rss_kib"] / 1024, "{:,.0f}", "low"),
    ("**RSS per active series (bytes)**", rss_per_series, "{:,.0f}", "low"),
    ("(RSS − RSS right after startup) per active series (bytes)",
     lambda r: (r["server"]["rss_kib"] - r["server"]["rss_start_kib"]) * 1024 / r["write"]["active_series"],
     "{:,.0f}", "low"),
    ("peak RSS, VmHWM (MiB)", lambda r: r["server"]["hwm_kib"] / 1024, "{:,.0f}", "low"),
    ("peak RSS per active series (bytes)", hwm_per_series, "{:,.0f}", "low"),
    ("RSS after the query load (MiB)", lambda r: r["server"]["rss_after_query_kib"] / 1024, "{:,.0f}", "low"),
    ("WAL (+ Prometheus chunks_head) bytes per sample", wal_per_sample, "{:.2f}", "low"),
]
if blocks:
    ROWS += [
        ("block bytes per sample (Prometheus: head snapshot; Cairn: shipped block)",
         block_per_sample, "{:.2f}", "low"),
        ("samples in the block(s)", lambda r: r["server"]["block_samples"], "{:,}", None),
    ]
ROWS += [
    ("query requests (errors)", None, None, None),
    ("query rate (queries/s)", lambda r: r["query"]["queries_per_second"], "{:.2f}", "high"),
    ("**query latency p50 (ms)**", lambda r: r["query"]["latency_ms"]["p50"], "{:.1f}", "low"),
    ("query latency p90 (ms)", lambda r: r["query"]["latency_ms"]["p90"], "{:.1f}", "low"),
    ("**query latency p99 (ms)**", lambda r: r["query"]["latency_ms"]["p99"], "{:.1f}", "low"),
    ("query latency max (ms)", lambda r: r["query"]["latency_ms"]["max"], "{:.1f}", "low"),
    ("server CPU per query (ms)", lambda r: 1000 * r["server"]["cpu_query"] / max(r["query"]["requests"], 1),
     "{:.1f}", "low"),
    ("shutdown after SIGTERM (s)", lambda r: r["server"]["stop_seconds"], "{:.1f}", None),
]


def fmt_ratio(c, p):
    return f"{c / p:.2f}×" if p else "n/a"


def size_table(z):
    head = "| | " + " | ".join(NAMES[t] for t in targets) + (" | Cairn / Prometheus |" if both else " |")
    lines = [head, "|---" * (len(targets) + 1 + both) + "|"]
    for label, f, fmt, better in ROWS:
        if f is None:
            cells = [f"{res[(z, t)]['query']['requests']:,} ({res[(z, t)]['query']['errors']:,})" for t in targets]
            ratio = ""
        else:
            cells = [fmt.format(f(res[(z, t)])) for t in targets]
            ratio = fmt_ratio(f(res[(z, "cairn")]), f(res[(z, "prometheus")])) if both and better else ""
        lines.append(f"| {label} | " + " | ".join(cells) + (f" | {ratio} |" if both else " |"))
    if "cairn" in targets and blocks:
        s = res[(z, "cairn")]["server"]
        lines.append("")
        lines.append(
            f"Cairn restart on that data: WAL replay until ready {s['replay_seconds']:.1f} s, "
            f"RSS after replay {s['rss_after_replay_kib'] / 1024:,.0f} MiB; cut and ship of the "
            f"block(s) {s['block_seconds']:.0f} s after the closing sample.")
    return lines


def query_table(z):
    names = [q["name"] for q in res[(z, targets[0])]["query"]["queries"]]
    cols = []
    for t in targets:
        cols += [f"{t} p50", f"{t} p99"]
    lines = ["| query | " + " | ".join(c.replace("cairn", "Cairn").replace("prometheus", "Prometheus") + " (ms)" for c in cols)
             + (" | Cairn / Prometheus p99 | series per answer (Cairn / Prometheus) |" if both else " |"),
             "|---" * (1 + len(cols) + 2 * both) + "|"]
    for n in names:
        by = {t: next(q for q in res[(z, t)]["query"]["queries"] if q["name"] == n) for t in targets}
        cells = []
        for t in targets:
            cells += [f"{by[t]['latency_ms']['p50']:.1f}", f"{by[t]['latency_ms']['p99']:.1f}"]
        extra = ""
        if both:
            c, p = by["cairn"], by["prometheus"]
            same = "" if abs(c["mean_series"] - p["mean_series"]) < 0.01 else " ≠"
            extra = (f" | {fmt_ratio(c['latency_ms']['p99'], p['latency_ms']['p99'])} | "
                     f"{c['mean_series']:.1f} / {p['mean_series']:.1f}{same}")
        lines.append(f"| `{n}` | " + " | ".join(cells) + extra + " |")
    return lines


def goals():
    if not both:
        return []
    lines = ["| goal (issue 6) | " + " | ".join(f"{z:,} series" for z in sizes) + " |",
             "|---" * (1 + len(sizes)) + "|"]
    checks = [
        ("ingest samples per CPU-second ≥ 2× Prometheus", per_core, lambda x: x >= 2.0),
        ("resident memory (RSS after the write) per active series ≤ 0.5× Prometheus", rss_per_series,
         lambda x: x <= 0.5),
        ("query latency p99 ≤ Prometheus", lambda r: r["query"]["latency_ms"]["p99"], lambda x: x <= 1.0),
    ]
    for label, f, ok in checks:
        cells = []
        for z in sizes:
            c, p = f(res[(z, "cairn")]), f(res[(z, "prometheus")])
            x = c / p if p else float("nan")
            cells.append(f"{x:.2f}× — {'**met**' if ok(x) else '**not met**'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def rel(cmd):
    return cmd.replace(env["BENCH_BIN_DIR"] + "/", "target/release/").replace(root + "/", "").replace(work, "$TMP")


w0 = res[(sizes[0], targets[0])]["write"]["settings"]


def label_values(counts):
    parts = [f"`label_{j}` {c} values" for j, c in enumerate(counts) if c > 1]
    rest = sum(1 for c in counts if c <= 1)
    return ", ".join(parts + ([f"{rest} more with one value"] if rest else []))


q0 = res[(sizes[0], targets[0])]["query"]
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
loads = ", ".join(f"{t} @ {z:,}: {res[(z, t)]['server']['loadavg_before']:.1f}" for z in sizes for t in targets)
mix = w0["kind"]
out = [
    START,
    f"_Generated by `scripts/bench-side-by-side.sh` on {now} (whole run {int(env['BENCH_TOTAL_SECONDS']) / 60:.0f} min); "
    "rerun the script to refresh, do not edit by hand._",
    "",
    f"- **Versions:** {NAMES.get('cairn', 'Cairn')}, {NAMES.get('prometheus', 'Prometheus')}.",
    f"- **Machine:** {os.cpu_count()} × {cpu_model} (`nproc` = {os.cpu_count()}), {mem_kib / 1048576:.0f} GiB RAM, "
    f"Linux {platform.release()}. One server at a time; the load generator runs on the same cores, "
    f"and the machine is shared with other work (1-min load average before each write: {loads}).",
    f"- **Write load:** `cairn-loadgen write`, {w0['metrics']} metric names ({mix}: counters, gauges, classic "
    f"histograms with {w0['histogram_buckets']} buckets + `+Inf`, `_sum`, `_count`), {w0['labels']} extra labels "
    f"({label_values(w0['label_values'])}), `series_id` and `cycle_id`; "
    f"every series written once per round, rounds {w0['flood_step_seconds']:.0f} s apart on synthetic time "
    "starting 50 minutes ago (rounds per size below; the first round creates the series), sent as fast as "
    f"acknowledged by {w0['concurrency']} concurrent requests of ≤ {w0['batch_size']:,} samples. "
    "Both targets get exactly the same samples.",
    f"- **Query load:** `cairn-loadgen query`, its built-in dashboard set of {len(q0['queries'])} range queries over "
    f"[now − {q0['range_seconds'] / 60:.0f} m, now] at steps {', '.join(f'{s:.0f}s' for s in q0['steps_seconds'])}, "
    f"{q0['concurrency']} in flight, {q0['requests']:,} requests right after the write (closed loop, the same "
    "sequence of queries for both targets; latency = request sent → whole body read).",
    "- **Measured:** CPU = the server's utime+stime from `/proc/<pid>/stat` during the write only, so samples "
    "per CPU-second is per core no matter what the load generator takes; RSS = `VmRSS` after the write "
    "and a settle pause, divided by the active series; disk = the write-ahead data after the write "
    "(Prometheus `wal/` + `chunks_head/`, Cairn `ingester/`), divided by the samples.",
    "",
]
if both:
    out += ["Goals (ratios are Cairn / Prometheus):", "", *goals(), ""]
for z in sizes:
    wz = res[(z, targets[0])]["write"]["settings"]
    out += [f"**{z:,} active series** — {wz['rounds_limit']} rounds = "
            f"{wz['rounds_limit'] * wz['flood_step_seconds'] / 60:.0f} minutes of data", "", *size_table(z), "",
            "Per query (built-in set, placeholders filled with random metrics of the right type):", "",
            *query_table(z), "",
            "(`topk` answers can differ in size between the targets: which series make the top 5 at "
            "some step depends on where the moving [now − 1h, now] window falls.)", ""]
out += [
    "Ratios are Cairn divided by Prometheus: above 1 is better for Cairn in the throughput rows "
    "and worse in the latency, memory and size rows.",
    "",
    "Commands (`$TMP` is a fresh temporary directory; the size is the `--series` value):",
    "",
    "```sh",
    "scripts/bench-side-by-side.sh",
    "# which runs, per size and target",
    "printf 'global:\\n' > $TMP/prometheus.yml",
    f"/usr/bin/prometheus --config.file=$TMP/prometheus.yml --storage.tsdb.path=$TMP/data "
    f"--web.listen-address=127.0.0.1:19090 --web.enable-remote-write-receiver --web.enable-admin-api",
    "target/release/cairn all --http.listen 127.0.0.1:19009 --grpc.listen 127.0.0.1:19095 --data.dir $TMP/data --log.level warn",
]
for t in targets:
    out.append(rel(open(f"{work}/{sizes[-1]}.{t}.write.cmd").read().strip()))
    out.append(rel(open(f"{work}/{sizes[-1]}.{t}.query.cmd").read().strip()))
out += ["```", ""]
for z in sizes:
    for t in targets:
        for part in ("write", "query"):
            for cls, body in res[(z, t)][part].get("first_errors", {}).items():
                out += [f"First {cls} {part} error from {t} at {z:,}: `{body[:300]}`", ""]
out.append(END)
section = "\n".join(out)

text = open(doc).read()
if START in text and END in text:
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, count=1, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## Side by side at 100k and 1M active series (issue 6)\n\n" + section + "\n"
open(doc, "w").write(text)
