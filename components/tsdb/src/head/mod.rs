//! One tenant's in-memory head: series, chunks and postings, backed by a WAL.
//!
//! Appends are serialized by a per-head mutex and go through three steps: validate
//! against each series' newest sample (under the index read lock), write new series
//! and accepted samples to the WAL, then apply them to memory (new series under a
//! brief index write lock, samples under each series' own lock). Queries take the
//! index read lock only to resolve matchers and then copy chunks series by series, so
//! they hold up appends for no longer than a postings lookup.

mod cut;
#[cfg(test)]
mod cut_tests;
#[cfg(test)]
mod histogram_tests;
mod index;
mod packed;
mod series;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_chunk::ChunkSample;
use cairn_model::{HistogramSample, Labels, Matcher, Sample};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::wal::{RefHistogram, RefSample, RefSeries, Wal, WalOptions, WalRecord, WalReplayStats};
use index::{Index, U64Map};

pub use cut::TruncateStats;
use series::{check, Check, ChunkPolicy, MemSeries};

/// Default chunk range: two hours in milliseconds, like Prometheus.
pub const DEFAULT_CHUNK_RANGE_MS: i64 = 2 * 60 * 60 * 1000;

/// Default number of samples after which a chunk is cut, like Prometheus.
pub const DEFAULT_SAMPLES_PER_CHUNK: usize = 120;

/// How many offending samples each [`Rejection`] keeps as examples.
pub const MAX_REJECTION_EXAMPLES: usize = 3;

/// How a [`Head`] stores data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadOptions {
    /// Chunks never span a multiple of this many milliseconds (so they are also never
    /// longer than it). Default two hours.
    pub chunk_range_ms: i64,
    /// A chunk is closed once it holds this many samples. Default 120.
    pub samples_per_chunk: usize,
    /// The WAL's segment size and fsync policy.
    pub wal: WalOptions,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            chunk_range_ms: DEFAULT_CHUNK_RANGE_MS,
            samples_per_chunk: DEFAULT_SAMPLES_PER_CHUNK,
            wal: WalOptions::default(),
        }
    }
}

/// Why a sample was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Older than the series' newest sample.
    OutOfOrder,
    /// Same timestamp as the series' newest sample but a different value.
    DuplicateTimestamp,
    /// The series has no labels at all.
    EmptyLabels,
    /// Older than the head's minimum valid time: that range was already cut into a
    /// block (or shipped and truncated), so the sample could never be stored there.
    OutOfBounds,
}

impl fmt::Display for RejectReason {
    /// The Prometheus wording.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutOfOrder => "out of order sample",
            Self::DuplicateTimestamp => "duplicate sample for timestamp",
            Self::EmptyLabels => "empty label set",
            Self::OutOfBounds => "out of bounds",
        })
    }
}

/// One rejected sample, kept as an example for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedSample {
    /// The series.
    pub labels: Labels,
    /// The sample's timestamp.
    pub t: i64,
}

/// One series of an append batch: labels sorted by name with unique names (callers
/// validate them), and its samples. Implemented for owned `(Labels, Vec<Sample>)` and
/// for borrowed `(&[(&str, &str)], &[Sample])`, so a write path can append straight
/// from a decoded request without building [`Labels`] for series the head already has.
pub trait AppendSeries {
    /// The `(name, value)` pairs, in name order.
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone;
    /// The float samples, oldest first.
    fn samples(&self) -> &[Sample];
    /// The native histogram samples, oldest first (appended after the float ones).
    fn histograms(&self) -> &[HistogramSample] {
        &[]
    }
    /// The labels as [`Labels`], for a new series or a rejection's example.
    fn to_labels(&self) -> Labels {
        Labels::from_sorted(
            self.label_pairs()
                .map(|(n, v)| cairn_model::Label::new(n, v))
                .collect(),
        )
    }
}

impl AppendSeries for (Labels, Vec<Sample>) {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }

    fn samples(&self) -> &[Sample] {
        &self.1
    }

    fn to_labels(&self) -> Labels {
        self.0.clone()
    }
}

impl AppendSeries for (&[(&str, &str)], &[Sample]) {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().copied()
    }

    fn samples(&self) -> &[Sample] {
        self.1
    }
}

impl AppendSeries for (&[(&str, &str)], &[Sample], &[HistogramSample]) {
    fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().copied()
    }

    fn samples(&self) -> &[Sample] {
        self.1
    }

    fn histograms(&self) -> &[HistogramSample] {
        self.2
    }
}

/// The samples of one append rejected for one reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// How many samples.
    pub count: usize,
    /// The first few (at most [`MAX_REJECTION_EXAMPLES`]).
    pub examples: Vec<RejectedSample>,
}

impl fmt::Display for Rejection {
    /// e.g. `2 samples rejected: out of order sample (up{job="a"} at t=10, ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} samples rejected: {} (", self.count, self.reason)?;
        for (i, e) in self.examples.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} at t={}", e.labels, e.t)?;
        }
        if self.count > self.examples.len() {
            f.write_str(", ...")?;
        }
        f.write_str(")")
    }
}

/// What an append did. Rejections do not fail the append: the valid samples of the
/// batch are stored, like Prometheus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendReport {
    /// Samples accepted, including re-sent ones identical to the newest sample (those
    /// are acknowledged but not stored twice).
    pub appended: usize,
    /// Rejected samples grouped by reason, in the order the reasons were first met.
    pub rejected: Vec<Rejection>,
}

impl AppendReport {
    /// Total number of rejected samples.
    pub fn rejected_count(&self) -> usize {
        self.rejected.iter().map(|r| r.count).sum()
    }

    fn reject(&mut self, reason: RejectReason, series: &impl AppendSeries, t: i64) {
        let i = match self.rejected.iter().position(|r| r.reason == reason) {
            Some(i) => i,
            None => {
                self.rejected.push(Rejection {
                    reason,
                    count: 0,
                    examples: Vec::new(),
                });
                self.rejected.len() - 1
            }
        };
        let r = &mut self.rejected[i];
        r.count += 1;
        if r.examples.len() < MAX_REJECTION_EXAMPLES {
            r.examples.push(RejectedSample {
                labels: series.to_labels(),
                t,
            });
        }
    }
}

/// One chunk as returned by queries: its time range, encoding and bytes.
pub use cairn_chunk::EncodedChunk as ChunkData;

/// A series and its chunks overlapping a query range (chunks may extend past it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesChunks {
    /// The series.
    pub labels: Labels,
    /// Oldest first, never empty.
    pub chunks: Vec<ChunkData>,
}

/// Counters describing a head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in memory.
    pub num_series: usize,
    /// Samples stored since open, including replayed ones.
    pub num_samples: u64,
    /// Oldest stored timestamp.
    pub min_time: Option<i64>,
    /// Newest stored timestamp.
    pub max_time: Option<i64>,
}

/// What rebuilding the head from its WAL found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// The WAL's own view: segments, records, corruption repaired.
    pub wal: WalReplayStats,
    /// Series restored.
    pub series: usize,
    /// Samples restored.
    pub samples: u64,
    /// Samples in the log that were out of order or duplicates and were skipped.
    pub skipped_samples: u64,
    /// Samples in the log for series references with no series record, skipped.
    pub unknown_series_samples: u64,
    /// Samples in the log older than the head's last truncation, skipped: they are in
    /// a block already.
    pub truncated_samples: u64,
    /// How long replay took.
    pub duration: Duration,
}

/// One tenant's head. Thread-safe; share it behind an `Arc`.
#[derive(Debug)]
pub struct Head {
    dir: PathBuf,
    policy: ChunkPolicy,
    /// The append lock: held for a whole append, owns the WAL.
    appender: Mutex<Appender>,
    index: RwLock<Index>,
    num_samples: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Appends of samples older than this are refused ([`RejectReason::OutOfBounds`]).
    /// Raised when a block is cut and when the head is truncated.
    min_valid_time: AtomicI64,
    /// The time of the last [`Head::truncate`], persisted in the WAL directory so
    /// replay skips older samples; `i64::MIN` when never truncated.
    truncated_before: AtomicI64,
    /// Serializes truncations (they checkpoint outside the append lock).
    truncate_lock: Mutex<()>,
    replay: ReplayStats,
}

#[derive(Debug)]
struct Appender {
    /// `None` once closed.
    wal: Option<Wal>,
    next_ref: u64,
}

/// Where an accepted sample run goes.
enum Target {
    Existing(Arc<MemSeries>),
    /// Index into the batch's new series.
    New(usize),
}

impl Head {
    /// Opens the head whose WAL lives in `wal_dir` (created if missing), replaying the
    /// log to rebuild series and samples. See [`Head::replay_stats`].
    pub fn open(wal_dir: impl AsRef<Path>, options: HeadOptions) -> Result<Self> {
        let started = Instant::now();
        let dir = wal_dir.as_ref().to_path_buf();
        let mut head = Self {
            dir: dir.clone(),
            policy: ChunkPolicy {
                range: options.chunk_range_ms.max(1),
                max_samples: options.samples_per_chunk.clamp(1, cairn_chunk::MAX_SAMPLES),
            },
            appender: Mutex::new(Appender {
                wal: None,
                next_ref: 1,
            }),
            index: RwLock::new(Index::default()),
            num_samples: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            truncated_before: AtomicI64::new(i64::MIN),
            truncate_lock: Mutex::new(()),
            replay: ReplayStats::default(),
        };
        std::fs::create_dir_all(&dir)
            .map_err(crate::error::io_err("create wal directory", &dir))?;
        if let Some(t) = cut::read_truncated_before(&dir)? {
            head.truncated_before.store(t, Ordering::Relaxed);
            head.min_valid_time.store(t, Ordering::Relaxed);
        }
        let mut replayer = Replayer {
            head: &head,
            aliases: HashMap::new(),
            max_ref: 0,
            stats: ReplayStats::default(),
        };
        let (wal, wal_stats) = Wal::open(&dir, options.wal, |rec| replayer.apply(rec))?;
        let (max_ref, mut stats) = (replayer.max_ref, replayer.stats);
        // Series whose samples were all lost (or never logged) carry no data.
        {
            let mut index = head.index.write();
            let empty: Vec<u64> = index
                .series()
                .filter(|s| s.last_sample().is_none())
                .map(|s| s.series_ref)
                .collect();
            for r in empty {
                index.remove(r);
            }
            stats.series = index.len();
        }
        stats.samples = head.num_samples.load(Ordering::Relaxed);
        stats.wal = wal_stats;
        stats.duration = started.elapsed();
        {
            let app = head.appender.get_mut();
            app.wal = Some(wal);
            app.next_ref = max_ref + 1;
        }
        if stats.wal.records > 0 {
            info!(
                dir = %dir.display(),
                series = stats.series,
                samples = stats.samples,
                skipped = stats.skipped_samples + stats.unknown_series_samples,
                duration_ms = stats.duration.as_millis() as u64,
                "replayed wal"
            );
        }
        head.replay = stats;
        Ok(head)
    }

    /// What replay found when this head was opened.
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay
    }

    /// Appends a batch of series' samples. Each series' samples must have strictly
    /// increasing timestamps, also relative to what the series already holds; the
    /// others are rejected and reported (see [`AppendReport`]) while the rest of the
    /// batch is stored. When this returns `Ok`, every new series and accepted sample is
    /// in the WAL. On `Err` (the WAL write failed) nothing of the batch was applied.
    pub fn append<S: AppendSeries>(&self, batch: &[S]) -> Result<AppendReport> {
        let mut guard = self.appender.lock();
        let Appender { wal, next_ref } = &mut *guard;
        let wal = wal.as_mut().ok_or_else(|| Error::Closed {
            dir: self.dir.clone(),
        })?;
        let mut report = AppendReport::default();
        let min_valid = self.min_valid_time.load(Ordering::Acquire);
        let mut new_series: Vec<RefSeries> = Vec::new();
        // Accepted samples of the whole batch back to back; each run is a range of it.
        let mut accepted: Vec<ChunkSample> = Vec::with_capacity(batch.len());
        let mut runs: Vec<(u64, Target, std::ops::Range<usize>)> = Vec::with_capacity(batch.len());
        {
            let index = self.index.read();
            // Series new in this batch, by label hash (a batch may name one twice).
            let mut new_refs: U64Map<Vec<usize>> = U64Map::default();
            let mut newest: U64Map<Option<ChunkSample>> = U64Map::default();
            for series in batch {
                let samples = series.samples().iter().map(|s| ChunkSample::Float(*s));
                let histograms = series.histograms().iter();
                let samples = samples.chain(histograms.map(|h| ChunkSample::Histogram(h.clone())));
                if series.samples().is_empty() && series.histograms().is_empty() {
                    continue;
                }
                if series.label_pairs().next().is_none() {
                    for s in samples {
                        report.reject(RejectReason::EmptyLabels, series, s.t());
                    }
                    continue;
                }
                let hash = index.hash(series.label_pairs());
                let known = index.by_hash(hash, series.label_pairs());
                let (r, target, last) = if let Some(s) = known {
                    (s.series_ref, Target::Existing(s.clone()), s.last_sample())
                } else if let Some(&i) = new_refs.get(&hash).and_then(|c| {
                    c.iter().find(|&&i| {
                        new_series[i]
                            .labels
                            .iter()
                            .map(|l| (l.name.as_str(), l.value.as_str()))
                            .eq(series.label_pairs())
                    })
                }) {
                    (new_series[i].series_ref, Target::New(i), None)
                } else {
                    let r = *next_ref;
                    *next_ref += 1;
                    new_refs.entry(hash).or_default().push(new_series.len());
                    new_series.push(RefSeries {
                        series_ref: r,
                        labels: series.to_labels(),
                    });
                    (r, Target::New(new_series.len() - 1), None)
                };
                let newest = newest.entry(r).or_insert(last);
                let first = accepted.len();
                for s in samples {
                    let t = s.t();
                    if t < min_valid {
                        report.reject(RejectReason::OutOfBounds, series, t);
                        continue;
                    }
                    match check(newest.as_ref(), &s) {
                        Check::Append => {
                            *newest = Some(s.clone());
                            accepted.push(s);
                            report.appended += 1;
                        }
                        Check::Same => report.appended += 1,
                        Check::OutOfOrder => report.reject(RejectReason::OutOfOrder, series, t),
                        Check::Duplicate => {
                            report.reject(RejectReason::DuplicateTimestamp, series, t);
                        }
                    }
                }
                if accepted.len() > first {
                    runs.push((r, target, first..accepted.len()));
                }
            }
        }

        // Durability first: nothing becomes visible before it is in the WAL.
        let mut ref_samples: Vec<RefSample> = Vec::with_capacity(accepted.len());
        let mut ref_histograms: Vec<RefHistogram> = Vec::new();
        for (r, _, range) in &runs {
            for s in &accepted[range.clone()] {
                match s {
                    ChunkSample::Float(s) => ref_samples.push(RefSample {
                        series_ref: *r,
                        t: s.t,
                        v: s.v,
                    }),
                    ChunkSample::Histogram(h) => ref_histograms.push(RefHistogram {
                        series_ref: *r,
                        t: h.t,
                        h: h.h.clone(),
                    }),
                }
            }
        }
        let mut records = Vec::with_capacity(3);
        if !new_series.is_empty() {
            records.push(WalRecord::Series(new_series));
        }
        if !ref_samples.is_empty() {
            records.push(WalRecord::Samples(ref_samples));
        }
        if !ref_histograms.is_empty() {
            records.push(WalRecord::Histograms(ref_histograms));
        }
        if records.is_empty() {
            return Ok(report);
        }
        wal.log(&records)?;

        let mut created: Vec<Arc<MemSeries>> = Vec::new();
        if let Some(WalRecord::Series(new_series)) = records.into_iter().next() {
            let mut index = self.index.write();
            for rs in new_series {
                let s = Arc::new(MemSeries::new(rs.series_ref, &rs.labels));
                index.insert(s.clone());
                created.push(s);
            }
        }
        for (_, target, range) in runs {
            let series = match &target {
                Target::Existing(s) => s,
                Target::New(i) => &created[*i],
            };
            let samples = &accepted[range];
            let done = series.append(samples, self.policy);
            debug_assert_eq!(done.stored as usize, samples.len());
            self.note_stored(done.stored, done.min_t, done.max_t);
        }
        Ok(report)
    }

    fn note_stored(&self, n: u64, min_t: Option<i64>, max_t: Option<i64>) {
        self.num_samples.fetch_add(n, Ordering::Relaxed);
        if let Some(t) = min_t {
            self.min_time.fetch_min(t, Ordering::Relaxed);
        }
        if let Some(t) = max_t {
            self.max_time.fetch_max(t, Ordering::Relaxed);
        }
    }

    /// Series matching all `matchers` (all series if none) that have samples in
    /// `[mint, maxt]`, sorted by labels, each with its chunks overlapping the range.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        if mint > maxt {
            return Vec::new();
        }
        let mut series = self.matching_series(matchers);
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series
            .iter()
            .filter_map(|s| {
                let chunks = s.chunks_overlapping(mint, maxt);
                (!chunks.is_empty()).then(|| SeriesChunks {
                    labels: s.labels.to_labels(),
                    chunks,
                })
            })
            .collect()
    }

    /// Sorted label names of the series matching `matchers` (all series if none) with
    /// samples in `[mint, maxt]`.
    pub fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        if matchers.is_empty() {
            let index = self.index.read();
            return index
                .postings()
                .iter()
                .filter(|(_, values)| {
                    values
                        .values()
                        .any(|refs| any_overlaps(&index, refs, mint, maxt))
                })
                .map(|(name, _)| name.clone())
                .collect();
        }
        let series = self.matching_series(matchers);
        let names: BTreeSet<&str> = series
            .iter()
            .filter(|s| s.overlaps(mint, maxt))
            .flat_map(|s| s.labels.iter().map(|(name, _)| name))
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Sorted values of label `name` among the series matching `matchers` (all series
    /// if none) with samples in `[mint, maxt]`.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        if mint > maxt {
            return Vec::new();
        }
        if matchers.is_empty() {
            let index = self.index.read();
            let Some(values) = index.postings().get(name) else {
                return Vec::new();
            };
            return values
                .iter()
                .filter(|(_, refs)| any_overlaps(&index, refs, mint, maxt))
                .map(|(v, _)| v.clone())
                .collect();
        }
        let series = self.matching_series(matchers);
        let values: BTreeSet<&str> = series
            .iter()
            .filter(|s| s.overlaps(mint, maxt))
            .filter_map(|s| s.labels.get(name))
            .collect();
        values.into_iter().map(str::to_owned).collect()
    }

    fn matching_series(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let index = self.index.read();
        index
            .matching(matchers)
            .into_iter()
            .filter_map(|r| index.get(r).cloned())
            .collect()
    }

    /// Current counters.
    pub fn stats(&self) -> HeadStats {
        let (min, max) = (
            self.min_time.load(Ordering::Relaxed),
            self.max_time.load(Ordering::Relaxed),
        );
        let has_data = min <= max;
        HeadStats {
            num_series: self.index.read().len(),
            num_samples: self.num_samples.load(Ordering::Relaxed),
            min_time: has_data.then_some(min),
            max_time: has_data.then_some(max),
        }
    }

    /// Fsyncs the WAL (drive this periodically under [`crate::FsyncPolicy::Interval`]).
    /// A no-op once closed.
    pub fn sync(&self) -> Result<()> {
        match self.appender.lock().wal.as_mut() {
            Some(wal) => wal.sync(),
            None => Ok(()),
        }
    }

    /// Fsyncs and closes the WAL; later appends fail with [`Error::Closed`], queries
    /// keep working. Closing twice is a no-op.
    pub fn close(&self) -> Result<()> {
        match self.appender.lock().wal.take() {
            Some(mut wal) => wal.sync(),
            None => Ok(()),
        }
    }

    /// The number of the WAL segment being written (`None` once closed).
    pub fn wal_segment(&self) -> Option<u64> {
        self.appender.lock().wal.as_ref().map(Wal::current_segment)
    }

    /// The WAL directory.
    pub fn wal_dir(&self) -> &Path {
        &self.dir
    }
}

fn any_overlaps(index: &Index, refs: &[u64], mint: i64, maxt: i64) -> bool {
    refs.iter()
        .filter_map(|r| index.get(*r))
        .any(|s| s.overlaps(mint, maxt))
}

/// Applies WAL records to a head being opened.
struct Replayer<'a> {
    head: &'a Head,
    /// A series logged twice under different references (possible only after a
    /// failed append) maps the later reference to the first.
    aliases: HashMap<u64, u64>,
    max_ref: u64,
    stats: ReplayStats,
}

impl Replayer<'_> {
    fn apply(&mut self, rec: WalRecord) {
        match rec {
            WalRecord::Series(series) => {
                let mut index = self.head.index.write();
                for RefSeries { series_ref, labels } in series {
                    self.max_ref = self.max_ref.max(series_ref);
                    if let Some(existing) = index.by_labels(&labels) {
                        if existing.series_ref != series_ref {
                            self.aliases.insert(series_ref, existing.series_ref);
                        }
                    } else if index.get(series_ref).is_some() {
                        warn!(
                            dir = %self.head.dir.display(),
                            series_ref,
                            "wal defines a series reference twice with different labels; keeping the first"
                        );
                    } else {
                        index.insert(Arc::new(MemSeries::new(series_ref, &labels)));
                    }
                }
            }
            WalRecord::Samples(samples) => self.apply_samples(
                samples
                    .iter()
                    .map(|s| (s.series_ref, ChunkSample::Float(Sample::new(s.t, s.v)))),
            ),
            WalRecord::Histograms(histograms) => {
                self.apply_samples(histograms.into_iter().map(|h| {
                    let sample = HistogramSample { t: h.t, h: h.h };
                    (h.series_ref, ChunkSample::Histogram(sample))
                }))
            }
        }
    }

    /// Appends `(series ref, sample)` pairs, a run of one series at a time.
    fn apply_samples(&mut self, samples: impl Iterator<Item = (u64, ChunkSample)>) {
        let truncated = self.head.truncated_before.load(Ordering::Relaxed);
        let mut samples = samples.peekable();
        let mut run: Vec<ChunkSample> = Vec::new();
        while let Some((r, first)) = samples.next() {
            run.clear();
            run.push(first);
            while let Some((_, s)) = samples.next_if(|(next, _)| *next == r) {
                run.push(s);
            }
            let before = run.len();
            run.retain(|s| s.t() >= truncated);
            self.stats.truncated_samples += (before - run.len()) as u64;
            if run.is_empty() {
                continue;
            }
            let r = self.aliases.get(&r).copied().unwrap_or(r);
            let series = self.head.index.read().get(r).cloned();
            let Some(series) = series else {
                self.stats.unknown_series_samples += run.len() as u64;
                continue;
            };
            let done = series.append(&run, self.head.policy);
            self.stats.skipped_samples += done.out_of_order + done.duplicate + done.same;
            self.head.note_stored(done.stored, done.min_t, done.max_t);
        }
    }
}
