//! An outside tool reads a Cairn block: pyarrow (installed by scripts/install-test-deps.sh)
//! sees the right row count, label columns and values.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use cairn_block::{
    local_block_dir, write_block, BlockChunk, BlockSeries, BlockWriterOptions, ChunkData,
    Compaction, NewBlock, BLOCK_FILE,
};
use cairn_chunk::XorChunk;
use cairn_model::Labels;

#[test]
fn pyarrow_reads_a_cairn_block() {
    let mut series: Vec<BlockSeries> = (0..300)
        .map(|i| {
            let mut c = XorChunk::new();
            for s in 0..10 {
                c.append(s * 15_000, s as f64);
            }
            let mut pairs = vec![
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", format!("{}", i % 4)),
                ("instance", format!("node-{i:03}")),
            ];
            if i % 3 == 0 {
                pairs.push(("mode", "idle".to_string()));
            }
            BlockSeries {
                labels: Labels::from_pairs(pairs),
                chunks: vec![BlockChunk {
                    min_time: 0,
                    max_time: 135_000,
                    data: ChunkData::Xor(c.into_bytes()),
                }],
            }
        })
        .collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let names: BTreeSet<String> = ["__name__", "cpu", "instance", "mode"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let block = NewBlock {
        tenant: "t".into(),
        min_time: 0,
        max_time: 7_200_000,
        resolution: 0,
        compaction: Compaction {
            level: 1,
            sources: vec![],
            parents: vec![],
        },
        external_labels: BTreeMap::new(),
        source: "test".into(),
    };
    let opts = BlockWriterOptions {
        row_group_rows: 128,
        ..BlockWriterOptions::default()
    };
    let meta = write_block(dir.path(), block, &names, series.into_iter().map(Ok), &opts).unwrap();
    let file = local_block_dir(dir.path(), &meta.ulid).join(BLOCK_FILE);

    let script = r#"
import sys, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
print(t.num_rows, f.metadata.num_row_groups)
print(",".join(n for n in t.column_names if n.startswith("l_")))
print(t.column("l_instance")[7].as_py(), t.column("l_mode").null_count)
rg = f.metadata.row_group(0)
print(rg.column(0).compression, rg.column(rg.num_columns - 1).compression)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs (scripts/install-test-deps.sh installs pyarrow)");
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "300 3");
    assert_eq!(lines[1], "l___name__,l_cpu,l_instance,l_mode");
    // Rows are sorted by labels, so cpu="0" (node-000, node-004, ...) comes first and
    // the 8th row is node-028; 200 of 300 series have no `mode`.
    assert_eq!(lines[2], "node-028 200");
    // Label columns are dictionary-encoded only; chunk columns are zstd-compressed.
    assert_eq!(lines[3], "UNCOMPRESSED ZSTD");
}
