//! The compactor as a process: killed with SIGKILL at random points of a run over many
//! blocks, then run to completion; the bucket must hold every sample exactly once, with
//! no overlaps, leftovers or problems `cairn tools bucket verify` would report.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_block::{
    list_blocks, upload_block, write_block, BlockSeries, BlockWriterOptions, Compaction, NewBlock,
};
use cairn_compact::merge::encode_raw;
use cairn_compact::{read_and_check, CompactConfig};
use cairn_model::{Labels, Sample};
use cairn_objstore::{Bucket, BucketConfig, BucketKind};

const H: i64 = 3_600_000;

type Data = BTreeMap<Labels, Vec<Sample>>;

fn series_data(tenant_seed: usize, min: i64, max: i64) -> Data {
    (0..40)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 4)),
                ("instance", format!("host-{i:02}")),
                ("tenant_seed", tenant_seed.to_string()),
            ]);
            let samples = (min..max)
                .step_by(30_000)
                .map(|t| Sample::new(t, (t / 30_000 + i as i64) as f64))
                .collect();
            (labels, samples)
        })
        .collect()
}

async fn put(bucket: &Bucket, tenant: &str, min: i64, max: i64, d: &Data, replica: &str) {
    let dir = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = d
        .keys()
        .flat_map(|l| l.iter().map(|l| l.name.clone()))
        .collect();
    let series: Vec<_> = d
        .iter()
        .map(|(l, s)| {
            Ok(BlockSeries {
                labels: l.clone(),
                chunks: encode_raw(s, &[], min, 2 * H),
            })
        })
        .collect();
    let meta = write_block(
        dir.path(),
        NewBlock {
            tenant: tenant.into(),
            min_time: min,
            max_time: max,
            resolution: 0,
            compaction: Compaction {
                level: 1,
                sources: vec![],
                parents: vec![],
            },
            external_labels: BTreeMap::from([("replica".to_string(), replica.to_string())]),
            source: "ingester".into(),
        },
        &names,
        series,
        &BlockWriterOptions::default(),
    )
    .unwrap();
    upload_block(bucket, &dir.path().join(meta.ulid.to_string()), &meta)
        .await
        .unwrap();
}

/// Samples of every live block, and whether any timestamp of a series is visible twice.
async fn visible(bucket: &Bucket, tenant: &str) -> (Data, bool) {
    let (blocks, _) = list_blocks(bucket, tenant).await.unwrap();
    let mut out: Data = BTreeMap::new();
    for b in blocks.iter().filter(|b| b.deletion_mark.is_none()) {
        let c = read_and_check(bucket, &b.meta).await.unwrap();
        assert!(c.problems.is_empty(), "{}: {:?}", b.meta.ulid, c.problems);
        for s in c.series {
            let v = out.entry(s.labels).or_default();
            for ch in &s.chunks {
                let cairn_block::ChunkData::Xor(bytes) = &ch.data else {
                    panic!("aggregate chunk")
                };
                v.extend(cairn_chunk::decode(bytes).unwrap());
            }
        }
    }
    let mut dup = false;
    for s in out.values_mut() {
        s.sort_by_key(|x| x.t);
        let n = s.len();
        s.dedup_by_key(|x| x.t);
        dup |= n != s.len();
    }
    (out, dup)
}

fn write_config(dir: &Path, bucket_dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cairn.yaml");
    std::fs::write(
        &path,
        format!(
            "bucket:\n  backend: filesystem\n  filesystem:\n    dir: {}\n\
             compact:\n  consistency_delay: 0s\n  delete_delay: 0s\n  partial_upload_delay: 0s\n  \
             downsample_5m_after: 0s\n  downsample_1h_after: 0s\n",
            bucket_dir.display()
        ),
    )
    .unwrap();
    path
}

fn cairn(args: &[&str], log: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        );
    c
}

/// A small deterministic generator for kill delays; the seed is printed for replay.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_compaction_leaves_the_bucket_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let bucket_dir = dir.path().join("bucket");
    let bucket = Bucket::from_config(
        &BucketConfig {
            backend: BucketKind::Filesystem,
            ..BucketConfig::default()
        },
        &bucket_dir,
    )
    .unwrap();
    // Two tenants; "ha" has two identical replicas (deduplicated vertically), 2 days of
    // 2h blocks each, so a run does dozens of compactions.
    let mut want: BTreeMap<&str, Data> = BTreeMap::new();
    for (tenant, replicas, seed) in [("ha", &["a", "b"][..], 1), ("solo", &["a"][..], 2)] {
        let mut all: Data = BTreeMap::new();
        for k in 0..24 {
            let (min, max) = (k * 2 * H, (k + 1) * 2 * H);
            let d = series_data(seed, min, max);
            for r in replicas {
                put(&bucket, tenant, min, max, &d, r).await;
            }
            for (l, s) in d {
                all.entry(l).or_default().extend(s);
            }
        }
        want.insert(tenant, all);
    }
    let config = write_config(dir.path(), &bucket_dir);
    let config = config.to_str().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let log = dir.path().join("compact.log");
    let once = [
        "compact",
        "--once",
        "--config.file",
        config,
        "--data.dir",
        data_dir,
    ];

    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill delay seed {seed}");
    let mut kills = 0;
    for round in 0..12 {
        let delay = Duration::from_millis(30 + next(&mut seed) % 900);
        let mut child = cairn(&once, &log).spawn().unwrap();
        let started = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() >= delay {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match finished {
            Some(status) => {
                assert!(
                    status.success(),
                    "round {round}: run failed; log:\n{}",
                    std::fs::read_to_string(&log).unwrap()
                );
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
        // After every kill: nothing lost, and every visible block sound.
        for (tenant, data) in &want {
            let (got, _) = visible(&bucket, tenant).await;
            assert_eq!(&got, data, "round {round}: tenant {tenant} lost samples");
        }
    }
    assert!(kills >= 1, "no run was interrupted");
    eprintln!("{kills} runs killed");

    let status = cairn(&once, &log).status().unwrap();
    assert!(
        status.success(),
        "final run failed; log:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    for (tenant, data) in &want {
        let (got, dup) = visible(&bucket, tenant).await;
        assert!(
            !dup,
            "tenant {tenant}: data visible twice after the final run"
        );
        assert_eq!(&got, data, "tenant {tenant}");
        let (blocks, partial) = list_blocks(&bucket, tenant).await.unwrap();
        assert!(partial.is_empty(), "orphan directories: {partial:?}");
        assert!(
            blocks.iter().all(|b| b.deletion_mark.is_none()),
            "marked blocks left"
        );
        // 2h blocks up to 40h are in 8h blocks; the last ones wait for newer data.
        assert!(
            blocks.len() <= 10,
            "tenant {tenant}: {} blocks left",
            blocks.len()
        );
    }
    let v = cairn_compact::tools::verify(&bucket, &CompactConfig::default(), None)
        .await
        .unwrap();
    assert!(v.problems.is_empty() && v.warnings.is_empty(), "{v:?}");
    let status = cairn(
        &[
            "tools",
            "bucket",
            "verify",
            "--config.file",
            config,
            "--data.dir",
            data_dir,
        ],
        &log,
    )
    .status()
    .unwrap();
    assert!(status.success());
    // `ls --output json` lists exactly the live blocks; `inspect` shows one of them.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "tools",
            "bucket",
            "ls",
            "--output",
            "json",
            "--config.file",
            config,
        ])
        .args(["--data.dir", data_dir])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = ls["blocks"].as_array().unwrap();
    let (ha, _) = list_blocks(&bucket, "ha").await.unwrap();
    let (solo, _) = list_blocks(&bucket, "solo").await.unwrap();
    assert_eq!(rows.len(), ha.len() + solo.len());
    let id = ha[0].meta.ulid.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tools", "bucket", "inspect", "ha", &id, "--output", "json"])
        .args(["--config.file", config, "--data.dir", data_dir])
        .output()
        .unwrap();
    assert!(out.status.success());
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["meta"]["ulid"], id.as_str());
    assert_eq!(inspect["label_cardinality"]["instance"], 40);
    assert!(!inspect["row_groups"].as_array().unwrap().is_empty());
    // The scratch dir holds no leftovers of killed runs.
    let scratch = Path::new(data_dir).join("compact");
    assert_eq!(
        std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0),
        0
    );
}

#[test]
fn compact_role_serves_ops_endpoints_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = common::start_role("compact", dir.path(), &data, &[]);
    assert_eq!(common::http_status(c.http, "/-/healthy"), Some(200));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = reqwest::blocking_get(&c.url("/metrics"));
        if body.contains("cairn_compactor_runs_total 1") {
            assert!(body.contains("cairn_compactor_compactions_total"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no compaction run reported:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

mod reqwest {
    pub(crate) fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}
