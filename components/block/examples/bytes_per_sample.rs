//! Bytes per sample of Cairn blocks holding node-exporter-like data.
//!
//! `cargo run --release -p cairn-block --example bytes_per_sample -- [nodes] [hours]`
//!
//! Simulates `nodes` hosts scraped every 15s exposing ~400 series each, in the mix of a
//! stock node_exporter: per-CPU mode counters in 0.01s steps, memory and filesystem
//! gauges in pages, disk and network counters (busy and idle devices), full-precision
//! collector durations, and many constant series. Writes one block over the whole range
//! and prints its size per sample. With `--openmetrics FILE` it also writes the same
//! samples as OpenMetrics text, so `promtool tsdb create-blocks-from openmetrics` can
//! build Prometheus's own block from identical data (scripts/bench-storage.sh).
//!
//! Environment: `SCRAPE_MS` [15000], `START_MS` [0], `CHUNK_SAMPLES` [120],
//! `ZSTD_LEVEL` [3]; with `OUT_DIR` the blocks are kept in `$OUT_DIR/$TENANT/<ulid>`
//! (a filesystem bucket's layout; `TENANT` [bench]), one per `BLOCK_HOURS` [hours].

use std::collections::BTreeSet;
use std::time::Instant;

use cairn_block::{
    write_block, BlockChunk, BlockSeries, BlockWriterOptions, ChunkData, Compaction, NewBlock,
};
use cairn_chunk::XorChunk;
use cairn_model::Labels;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// How a series' value moves from one scrape to the next.
#[derive(Clone, Copy)]
enum Shape {
    /// Never changes (sizes, totals, `*_info`, error counters on healthy hosts).
    Constant(f64),
    /// Integer counter growing by about `rate`/s; unchanged in a scrape with
    /// probability `1 - p_change` (idle devices).
    IntCounter { rate: f64, p_change: f64 },
    /// Counter in steps of 0.01 (CPU seconds from USER_HZ).
    CentiCounter { rate: f64 },
    /// Random walk in whole multiples of `unit`, moving with probability `p_change`.
    Gauge {
        base: f64,
        step: f64,
        unit: f64,
        p_change: f64,
    },
    /// A full-precision float around `base` (collector durations, `node_time_seconds`).
    Noise { base: f64, spread: f64 },
}

/// ~400 series per host, in the proportions of a stock node_exporter on a quiet server.
fn node_series(node: usize) -> Vec<(Labels, Shape)> {
    let inst = format!("node-{node:04}:9100");
    let mut out = Vec::new();
    let mut add = |name: &str, extra: &[(&str, &str)], shape: Shape| {
        let mut pairs = vec![
            ("__name__", name.to_string()),
            ("instance", inst.clone()),
            ("job", "node".to_string()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        out.push((Labels::from_pairs(pairs), shape));
    };
    for cpu in ["0", "1", "2", "3", "4", "5", "6", "7"] {
        for (mode, rate) in [
            ("user", 0.2),
            ("system", 0.05),
            ("idle", 0.7),
            ("iowait", 0.01),
            ("irq", 0.001),
            ("softirq", 0.003),
        ] {
            add(
                "node_cpu_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                Shape::CentiCounter { rate },
            );
        }
        for mode in ["steal", "nice"] {
            add(
                "node_cpu_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                Shape::Constant(0.0),
            );
        }
        for mode in ["guest", "guest_nice"] {
            add(
                "node_cpu_guest_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                Shape::Constant(0.0),
            );
        }
        add(
            "node_cpu_scaling_frequency_hertz",
            &[("cpu", cpu)],
            Shape::Gauge {
                base: 2.4e9,
                step: 4e8,
                unit: 1e6,
                p_change: 0.3,
            },
        );
    }
    for i in 0..15 {
        let name = format!("node_memory_active_{i}_bytes");
        add(
            &name,
            &[],
            Shape::Gauge {
                base: 1e9,
                step: 2e6,
                unit: 4096.0,
                p_change: 0.8,
            },
        );
    }
    for i in 0..25 {
        let name = format!("node_memory_static_{i}_bytes");
        add(&name, &[], Shape::Constant(1.6e10));
    }
    for mp in ["/", "/boot", "/var", "/home", "/run"] {
        add(
            "node_filesystem_avail_bytes",
            &[("mountpoint", mp)],
            Shape::Gauge {
                base: 5e10,
                step: 1e5,
                unit: 4096.0,
                p_change: 0.2,
            },
        );
        add(
            "node_filesystem_free_bytes",
            &[("mountpoint", mp)],
            Shape::Gauge {
                base: 5.2e10,
                step: 1e5,
                unit: 4096.0,
                p_change: 0.2,
            },
        );
        add(
            "node_filesystem_files_free",
            &[("mountpoint", mp)],
            Shape::Gauge {
                base: 3e6,
                step: 20.0,
                unit: 1.0,
                p_change: 0.1,
            },
        );
        for m in [
            "node_filesystem_size_bytes",
            "node_filesystem_files",
            "node_filesystem_readonly",
            "node_filesystem_device_error",
        ] {
            add(m, &[("mountpoint", mp)], Shape::Constant(1e11));
        }
    }
    for dev in ["sda", "sdb", "dm-0"] {
        add(
            "node_disk_written_bytes_total",
            &[("device", dev)],
            Shape::IntCounter {
                rate: 4e5,
                p_change: 0.9,
            },
        );
        add(
            "node_disk_writes_completed_total",
            &[("device", dev)],
            Shape::IntCounter {
                rate: 30.0,
                p_change: 0.9,
            },
        );
        add(
            "node_disk_write_time_seconds_total",
            &[("device", dev)],
            Shape::CentiCounter { rate: 0.02 },
        );
        add(
            "node_disk_io_time_seconds_total",
            &[("device", dev)],
            Shape::CentiCounter { rate: 0.03 },
        );
        add(
            "node_disk_read_bytes_total",
            &[("device", dev)],
            Shape::IntCounter {
                rate: 5e4,
                p_change: 0.1,
            },
        );
        add(
            "node_disk_reads_completed_total",
            &[("device", dev)],
            Shape::IntCounter {
                rate: 3.0,
                p_change: 0.1,
            },
        );
        for m in [
            "node_disk_discards_completed_total",
            "node_disk_flush_requests_total",
            "node_disk_reads_merged_total",
            "node_disk_writes_merged_total",
        ] {
            add(
                m,
                &[("device", dev)],
                Shape::IntCounter {
                    rate: 1.0,
                    p_change: 0.05,
                },
            );
        }
    }
    for dev in ["eth0", "eth1", "lo", "docker0"] {
        let active = if dev == "eth0" || dev == "lo" {
            0.95
        } else {
            0.02
        };
        for m in ["receive_bytes", "transmit_bytes"] {
            add(
                &format!("node_network_{m}_total"),
                &[("device", dev)],
                Shape::IntCounter {
                    rate: 4e4,
                    p_change: active,
                },
            );
        }
        for m in ["receive_packets", "transmit_packets", "receive_multicast"] {
            add(
                &format!("node_network_{m}_total"),
                &[("device", dev)],
                Shape::IntCounter {
                    rate: 50.0,
                    p_change: active,
                },
            );
        }
        for m in [
            "receive_errs",
            "transmit_errs",
            "receive_drop",
            "transmit_drop",
            "receive_fifo",
            "transmit_fifo",
            "receive_frame",
            "transmit_carrier",
            "receive_compressed",
            "transmit_compressed",
        ] {
            add(
                &format!("node_network_{m}_total"),
                &[("device", dev)],
                Shape::Constant(0.0),
            );
        }
        for m in [
            "node_network_up",
            "node_network_mtu_bytes",
            "node_network_speed_bytes",
            "node_network_info",
        ] {
            add(m, &[("device", dev)], Shape::Constant(1.0));
        }
    }
    for i in 0..40 {
        let c = format!("collector{i:02}");
        add(
            "node_scrape_collector_duration_seconds",
            &[("collector", &c)],
            Shape::Noise {
                base: 0.002,
                spread: 0.001,
            },
        );
        add(
            "node_scrape_collector_success",
            &[("collector", &c)],
            Shape::Constant(1.0),
        );
    }
    for (name, base) in [
        ("node_load1", 1.5),
        ("node_load5", 1.4),
        ("node_load15", 1.3),
    ] {
        add(
            name,
            &[],
            Shape::Gauge {
                base,
                step: 0.05,
                unit: 0.01,
                p_change: 0.9,
            },
        );
    }
    for (name, rate) in [
        ("node_context_switches_total", 3000.0),
        ("node_intr_total", 2000.0),
        ("node_forks_total", 5.0),
    ] {
        add(
            name,
            &[],
            Shape::IntCounter {
                rate,
                p_change: 1.0,
            },
        );
    }
    add(
        "node_procs_running",
        &[],
        Shape::Gauge {
            base: 2.0,
            step: 2.0,
            unit: 1.0,
            p_change: 0.5,
        },
    );
    add(
        "node_time_seconds",
        &[],
        Shape::Noise {
            base: 1.7e9,
            spread: 0.01,
        },
    );
    for i in 0..60 {
        let name = format!("node_static_{i}");
        add(&name, &[], Shape::Constant(i as f64));
    }
    add("up", &[], Shape::Constant(1.0));
    add(
        "scrape_duration_seconds",
        &[],
        Shape::Noise {
            base: 0.05,
            spread: 0.02,
        },
    );
    add("scrape_samples_scraped", &[], Shape::Constant(400.0));
    out
}

#[allow(clippy::print_stdout)] // the result line is the program's output
fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let om_path = argv
        .iter()
        .position(|a| a == "--openmetrics")
        .and_then(|i| argv.get(i + 1).cloned());
    let args: Vec<usize> = argv.iter().filter_map(|a| a.parse().ok()).collect();
    let mut om = om_path.as_ref().map(|p| {
        std::io::BufWriter::new(std::fs::File::create(p).expect("create openmetrics file"))
    });
    let mut last_family = String::new();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    // Samples per chunk (120 like Prometheus's head; compaction may re-cut longer ones).
    let chunk_samples = env("CHUNK_SAMPLES", 120);
    let zstd_level = env("ZSTD_LEVEL", 3) as i32;
    let scrape_ms = env("SCRAPE_MS", 15_000) as i64;
    let scrape_s = scrape_ms as f64 / 1000.0;
    let start_ms = env("START_MS", 0) as i64;
    let nodes = args.first().copied().unwrap_or(100);
    let hours = args.get(1).copied().unwrap_or(2) as i64;
    let range_ms = hours * 3_600_000;
    let mut rng = StdRng::seed_from_u64(42);

    let mut all: Vec<(Labels, Shape)> = (0..nodes).flat_map(node_series).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names = BTreeSet::new();
    let mut samples = 0u64;
    let mut series = Vec::with_capacity(all.len());
    for (labels, shape) in all {
        names.extend(labels.iter().map(|l| l.name.clone()));
        let mut chunks = Vec::new();
        let mut chunk = XorChunk::new();
        let mut value = match shape {
            Shape::IntCounter { .. } => rng.gen_range(1e3..1e9f64).round(),
            Shape::CentiCounter { .. } => (rng.gen_range(1e3..1e6f64) * 100.0).round() / 100.0,
            Shape::Gauge { base, .. } | Shape::Noise { base, .. } => base,
            Shape::Constant(v) => v,
        };
        // Each target has its own scrape offset. Prometheus aligns timestamps that are
        // within 2ms of the schedule, so only the occasional slow scrape shows jitter.
        let offset = rng.gen_range(0..scrape_ms);
        let mut t = start_ms + offset;
        while t < start_ms + range_ms {
            let ts = if rng.gen_bool(0.02) {
                t + rng.gen_range(3..40)
            } else {
                t
            };
            if ts >= start_ms + range_ms {
                break;
            }
            value = match shape {
                Shape::Constant(v) => v,
                Shape::IntCounter { rate, p_change } => {
                    if rng.gen_bool(p_change) {
                        value + (rate * scrape_s * rng.gen_range(0.5..1.5)).round().max(1.0)
                    } else {
                        value
                    }
                }
                Shape::CentiCounter { rate } => {
                    let steps = (rate * scrape_s * 100.0 * rng.gen_range(0.5..1.5)).round();
                    ((value * 100.0).round() + steps) / 100.0
                }
                Shape::Gauge {
                    base,
                    step,
                    unit,
                    p_change,
                } => {
                    if rng.gen_bool(p_change) {
                        let v = value + rng.gen_range(-step..step);
                        ((v * 0.9 + base * 0.1) / unit).round() * unit
                    } else {
                        value
                    }
                }
                Shape::Noise { base, spread } => {
                    if base > 1e6 {
                        base + t as f64 / 1000.0 + rng.gen_range(0.0..spread)
                    } else {
                        base + rng.gen_range(-spread..spread)
                    }
                }
            };
            // Chunks are cut at 120 samples and at 2h boundaries, like the head does.
            let boundary = chunk
                .first_time()
                .is_some_and(|f| f.div_euclid(7_200_000) != ts.div_euclid(7_200_000));
            if chunk.num_samples() == chunk_samples || boundary {
                chunks.push(finish(std::mem::take(&mut chunk)));
            }
            chunk.append(ts, value);
            samples += 1;
            if let Some(w) = om.as_mut() {
                write_openmetrics(w, &labels, &mut last_family, ts, value);
            }
            t += scrape_ms;
        }
        if !chunk.is_empty() {
            chunks.push(finish(chunk));
        }
        series.push(BlockSeries { labels, chunks });
    }
    if let Some(mut w) = om.take() {
        use std::io::Write;
        writeln!(w, "# EOF").expect("write openmetrics");
        w.flush().expect("write openmetrics");
    }
    let n_series = series.len();
    let xor_bytes: usize = series
        .iter()
        .flat_map(|s| &s.chunks)
        .map(|c| match &c.data {
            ChunkData::Xor(b) | ChunkData::FloatHistogram(b) => b.len(),
            ChunkData::Aggr(_) => 0,
        })
        .sum();

    let tmp = tempfile::tempdir().expect("tmp dir");
    let tenant = std::env::var("TENANT").unwrap_or_else(|_| "bench".into());
    let out_dir = match std::env::var_os("OUT_DIR") {
        Some(d) => std::path::PathBuf::from(d).join(&tenant),
        None => tmp.path().to_path_buf(),
    };
    let block_ms = env("BLOCK_HOURS", hours as usize) as i64 * 3_600_000;
    let opts = BlockWriterOptions {
        zstd_level,
        ..BlockWriterOptions::default()
    };
    let started = Instant::now();
    let mut size = 0;
    let mut lo = start_ms;
    while lo < start_ms + range_ms {
        let hi = (lo + block_ms).min(start_ms + range_ms);
        // Chunks never cross 2h boundaries, so whole chunks fall into one block.
        let part = series.iter().filter_map(|s| {
            let chunks: Vec<BlockChunk> = s
                .chunks
                .iter()
                .filter(|c| c.min_time >= lo && c.min_time < hi)
                .cloned()
                .collect();
            (!chunks.is_empty()).then(|| {
                Ok(BlockSeries {
                    labels: s.labels.clone(),
                    chunks,
                })
            })
        });
        let block = NewBlock {
            tenant: tenant.clone(),
            min_time: lo,
            max_time: hi,
            resolution: 0,
            compaction: Compaction {
                level: 1,
                sources: vec![],
                parents: vec![],
            },
            external_labels: Default::default(),
            source: "bench".into(),
        };
        let meta = write_block(&out_dir, block, &names, part, &opts).expect("write block");
        size += meta.block_file_size().unwrap_or(0);
        lo = hi;
    }
    let took = started.elapsed();
    println!(
        "nodes={nodes} hours={hours} series={n_series} samples={samples} xor_bytes={xor_bytes} \
         block_bytes={size} xor_bytes_per_sample={:.3} block_bytes_per_sample={:.3} write_s={:.2}",
        xor_bytes as f64 / samples as f64,
        size as f64 / samples as f64,
        took.as_secs_f64()
    );
}

fn finish(c: XorChunk) -> BlockChunk {
    BlockChunk {
        min_time: c.first_time().expect("non-empty chunk"),
        max_time: c.last_time().expect("non-empty chunk"),
        data: ChunkData::Xor(c.into_bytes()),
    }
}

/// One OpenMetrics sample line (timestamps in seconds), with a `# TYPE` line when a new
/// metric family starts.
fn write_openmetrics(
    w: &mut impl std::io::Write,
    labels: &Labels,
    family: &mut String,
    t: i64,
    v: f64,
) {
    let name = labels.metric_name().unwrap_or("");
    if name != family {
        writeln!(w, "# TYPE {name} gauge").expect("write openmetrics");
        *family = name.to_string();
    }
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    writeln!(
        w,
        "{name}{{{}}} {v} {}.{:03}",
        rest.join(","),
        t / 1000,
        t % 1000
    )
    .expect("write openmetrics");
}
