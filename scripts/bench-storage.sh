#!/usr/bin/env bash
# Storage benchmark: bytes per sample of a Cairn block against a Prometheus 2.42 TSDB
# block holding the identical samples, on this machine in one run.
#
# The generator (components/block/examples/bytes_per_sample.rs) simulates node_exporter
# hosts scraped every 15s (~420 series each) and writes a Cairn block; with
# --openmetrics it writes the same samples as OpenMetrics text, from which
# `promtool tsdb create-blocks-from openmetrics` builds Prometheus's block. Sizes are
# the block.parquet file for Cairn and the whole block directory (chunks + index) for
# Prometheus. A second Cairn-only row shows a 24h block laid out like a compacted one
# (chunks re-cut up to 480 samples, zstd 9), which Prometheus has no direct equivalent
# for from promtool. Results go into docs/benchmarks.md between
# <!-- storage-bench:start --> and <!-- storage-bench:end -->.
#
# Environment: BENCH_NODES [20]  BENCH_DOC [docs/benchmarks.md]  BENCH_TMPDIR [/tmp]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=${BENCH_NODES:-20}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/cairn-storage-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

command -v promtool >/dev/null || "$ROOT/scripts/install-test-deps.sh"
cargo build --release -q -p cairn-block --example bytes_per_sample --manifest-path "$ROOT/Cargo.toml"
GEN="$ROOT/target/release/examples/bytes_per_sample"

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

cairn2h=$("$GEN" "$NODES" 2 --openmetrics "$TMP/data.om")
echo "cairn 2h:   $cairn2h"
mkdir "$TMP/prom"
promtool tsdb create-blocks-from openmetrics "$TMP/data.om" "$TMP/prom" >/dev/null
prom_bytes=$(du -sb "$TMP/prom"/*/ | awk '{s+=$1} END {print s}')
samples=$(echo "$cairn2h" | field samples)
series=$(echo "$cairn2h" | field series)
cairn_bytes=$(echo "$cairn2h" | field block_bytes)
echo "prometheus: bytes=$prom_bytes"
cairn24=$(CHUNK_SAMPLES=480 ZSTD_LEVEL=9 "$GEN" "$NODES" 24)
echo "cairn 24h:  $cairn24"

python3 - "$DOC" "$NODES" "$series" "$samples" "$cairn_bytes" "$prom_bytes" "$cairn24" <<'PY'
import sys, re, datetime, platform, os
doc, nodes, series, samples, cairn, prom, c24 = sys.argv[1:8]
series, samples, cairn, prom = int(series), int(samples), int(cairn), int(prom)
f = dict(kv.split("=") for kv in c24.split())
rows = [
    ("Cairn block (2h, as the ingester cuts it)", samples, cairn),
    ("Prometheus 2.42 TSDB block (2h, promtool)", samples, prom),
    ("Cairn block (24h, compacted layout)", int(f["samples"]), int(f["block_bytes"])),
]
out = [f"Run {datetime.date.today()} on {os.cpu_count()} cores ({platform.machine()}), "
       f"{nodes} node_exporter-like hosts, {series} series, 15s scrape interval.", "",
       "| block | samples | bytes | bytes/sample |", "| --- | ---: | ---: | ---: |"]
for name, s, b in rows:
    out.append(f"| {name} | {s:,} | {b:,} | {b/s:.3f} |")
out += ["", f"Cairn/Prometheus on identical data (2h): **{cairn/prom:.2f}×** the bytes.", ""]
text = open(doc).read()
block = "<!-- storage-bench:start -->\n" + "\n".join(out) + "<!-- storage-bench:end -->"
if "<!-- storage-bench:start -->" in text:
    text = re.sub(r"<!-- storage-bench:start -->.*?<!-- storage-bench:end -->", block, text, flags=re.S)
else:
    text += "\n" + block + "\n"
open(doc, "w").write(text)
PY
echo "updated $DOC"
