//! The planner: given a tenant's blocks, what to do next. Pure (no I/O), so every rule
//! is unit-tested; the executor re-lists the bucket and plans again after each step.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cairn_block::{BlockEntry, BlockMeta, RESOLUTION_1H, RESOLUTION_5M, RESOLUTION_RAW};
use ulid::Ulid;

use crate::config::CompactConfig;

/// The `source` the compactor writes into the metas of its blocks.
pub const COMPACTOR_SOURCE: &str = "compactor";

/// Blocks that may be compacted together: same resolution and the same external labels
/// (without the replica labels when vertical compaction deduplicates replicas).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Resolution in milliseconds.
    pub resolution: i64,
    /// External labels shared by the group (and given to its compacted blocks).
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{{", self.resolution)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// A block made redundant by another one that holds all of its sources: the leftover of
/// a compaction that uploaded its result but died before marking its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    /// The redundant block.
    pub block: Ulid,
    /// The block that holds its data.
    pub by: Ulid,
}

/// One compaction: merge `inputs` into one block.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionJob {
    /// The group of every input.
    pub group: GroupKey,
    /// The blocks, sorted by `min_time`.
    pub inputs: Vec<BlockMeta>,
    /// Whether the inputs overlap in time (samples are merged and deduplicated).
    pub vertical: bool,
}

/// One downsampling: a copy of `block` at a coarser resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampleJob {
    /// The source block.
    pub block: BlockMeta,
    /// Target resolution.
    pub resolution: i64,
}

/// What to do next for one tenant. The executor runs the first non-empty step kind in
/// field order and plans again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Redundant blocks to mark for deletion.
    pub covered: Vec<Covered>,
    /// At most one compaction per group.
    pub compactions: Vec<CompactionJob>,
    /// Blocks to downsample.
    pub downsamples: Vec<DownsampleJob>,
    /// Blocks past their resolution's retention.
    pub expired: Vec<Ulid>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.covered.is_empty()
            && self.compactions.is_empty()
            && self.downsamples.is_empty()
            && self.expired.is_empty()
    }
}

/// Why the planner refuses to go on for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// `overlap`.
    pub reason: &'static str,
    /// Which blocks and ranges.
    pub detail: String,
}

/// Plans the next steps for one tenant's blocks at time `now_ms`.
pub fn plan(cfg: &CompactConfig, blocks: &[BlockEntry], now_ms: i64) -> Result<Plan, Halt> {
    let live: Vec<&BlockEntry> = blocks
        .iter()
        .filter(|b| b.deletion_mark.is_none())
        .collect();
    let covered = find_covered(&live);
    if !covered.is_empty() {
        return Ok(Plan {
            covered,
            ..Plan::default()
        });
    }
    let consistency_ms = cfg.consistency_delay.as_millis() as i64;
    let settled = |m: &BlockMeta| {
        m.source == COMPACTOR_SOURCE || m.ulid.timestamp_ms() as i64 <= now_ms - consistency_ms
    };
    let candidates: Vec<&BlockMeta> = live
        .iter()
        .filter(|b| b.no_compact_mark.is_none() && settled(&b.meta))
        .map(|b| &b.meta)
        .collect();

    let mut groups: BTreeMap<GroupKey, Vec<&BlockMeta>> = BTreeMap::new();
    for m in &candidates {
        groups.entry(group_key(cfg, m)).or_default().push(m);
    }
    let ranges = cfg.level_ranges_ms();
    let mut compactions = Vec::new();
    for (key, mut metas) in groups {
        metas.sort_by_key(|m| (m.min_time, m.max_time, m.ulid));
        if let Some(cluster) = overlapping(&metas) {
            if !cfg.vertical_compaction || key.resolution != RESOLUTION_RAW {
                let why = if cfg.vertical_compaction {
                    "overlapping downsampled blocks cannot be merged"
                } else {
                    "overlapping blocks and vertical compaction is disabled"
                };
                return Err(Halt {
                    reason: "overlap",
                    detail: format!("group {key}: {why}: {}", describe(&cluster)),
                });
            }
            compactions.push(CompactionJob {
                group: key,
                inputs: cluster.into_iter().cloned().collect(),
                vertical: true,
            });
            continue;
        }
        if let Some(inputs) = select_level(&metas, &ranges) {
            compactions.push(CompactionJob {
                group: key,
                inputs: inputs.into_iter().cloned().collect(),
                vertical: false,
            });
        }
    }
    if !compactions.is_empty() {
        return Ok(Plan {
            compactions,
            ..Plan::default()
        });
    }
    let downsamples = plan_downsampling(cfg, &candidates, now_ms);
    if !downsamples.is_empty() {
        return Ok(Plan {
            downsamples,
            ..Plan::default()
        });
    }
    let expired = live
        .iter()
        .filter(|b| {
            cfg.retention_ms(b.meta.resolution)
                .is_some_and(|r| b.meta.max_time < now_ms - r)
        })
        .map(|b| b.meta.ulid)
        .collect();
    Ok(Plan {
        expired,
        ..Plan::default()
    })
}

/// The group a block belongs to.
pub fn group_key(cfg: &CompactConfig, m: &BlockMeta) -> GroupKey {
    let mut labels = m.external_labels.clone();
    if cfg.vertical_compaction {
        labels.retain(|k, _| !cfg.replica_labels.contains(k));
    }
    GroupKey {
        resolution: m.resolution,
        labels,
    }
}

/// Blocks whose sources another live block of the same resolution holds as well. The
/// block with more sources wins; on equal sources the newer ulid.
fn find_covered(live: &[&BlockEntry]) -> Vec<Covered> {
    let sources: Vec<HashSet<Ulid>> = live
        .iter()
        .map(|b| b.meta.compaction.sources.iter().copied().collect())
        .collect();
    let mut out = Vec::new();
    for (i, x) in live.iter().enumerate() {
        let mut best: Option<usize> = None;
        for (j, y) in live.iter().enumerate() {
            if i == j || x.meta.resolution != y.meta.resolution {
                continue;
            }
            let wins = sources[j].len() > sources[i].len()
                || (sources[j].len() == sources[i].len() && y.meta.ulid > x.meta.ulid);
            if wins && sources[i].is_subset(&sources[j]) {
                let better = best.is_none_or(|b| {
                    (sources[j].len(), y.meta.ulid) > (sources[b].len(), live[b].meta.ulid)
                });
                if better {
                    best = Some(j);
                }
            }
        }
        if let Some(b) = best {
            out.push(Covered {
                block: x.meta.ulid,
                by: live[b].meta.ulid,
            });
        }
    }
    out
}

/// The first cluster of blocks (sorted by `min_time`) that overlap in time.
fn overlapping<'a>(metas: &[&'a BlockMeta]) -> Option<Vec<&'a BlockMeta>> {
    let mut i = 0;
    while i < metas.len() {
        let mut end = metas[i].max_time;
        let mut j = i + 1;
        while j < metas.len() && metas[j].min_time < end {
            end = end.max(metas[j].max_time);
            j += 1;
        }
        if j - i > 1 {
            return Some(metas[i..j].to_vec());
        }
        i = j;
    }
    None
}

/// Prometheus's level selection: for each range above the first, the first aligned range
/// holding more than one block that is complete — it spans the whole range, or a newer
/// block starts after it. The newest block is left out, as it may still get neighbours.
fn select_level<'a>(metas: &[&'a BlockMeta], ranges: &[i64]) -> Option<Vec<&'a BlockMeta>> {
    if ranges.len() < 2 || metas.len() < 2 {
        return None;
    }
    let metas = &metas[..metas.len() - 1];
    let high_time = metas.last()?.min_time;
    for &r in &ranges[1..] {
        for part in split_by_range(metas, r) {
            let mint = part[0].min_time;
            let maxt = part[part.len() - 1].max_time;
            if part.len() > 1 && (maxt - mint == r || maxt <= high_time) {
                return Some(part);
            }
        }
    }
    None
}

/// Groups sorted blocks by the aligned range of width `r` they fall into; blocks that do
/// not fit one range (misaligned, or larger) are skipped.
fn split_by_range<'a>(metas: &[&'a BlockMeta], r: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < metas.len() {
        let t0 = metas[i].min_time.div_euclid(r) * r;
        if metas[i].max_time > t0 + r {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < metas.len() && metas[i].max_time <= t0 + r {
            // A block starting before t0 belongs to an earlier range; it was sorted in
            // only because it overlaps nothing, and cannot join this one.
            if metas[i].min_time < t0 {
                break;
            }
            group.push(metas[i]);
            i += 1;
        }
        if group.is_empty() {
            i += 1;
        } else {
            out.push(group);
        }
    }
    out
}

/// Raw blocks old enough for 5m, 5m blocks old enough for 1h, unless blocks of the target
/// resolution already hold all their sources.
fn plan_downsampling(
    cfg: &CompactConfig,
    candidates: &[&BlockMeta],
    now_ms: i64,
) -> Vec<DownsampleJob> {
    let done = |res: i64| -> BTreeSet<Ulid> {
        candidates
            .iter()
            .filter(|m| m.resolution == res)
            .flat_map(|m| m.compaction.sources.iter().copied())
            .collect()
    };
    let mut out = Vec::new();
    for (from, to, after) in [
        (RESOLUTION_RAW, RESOLUTION_5M, cfg.downsample_5m_after),
        (RESOLUTION_5M, RESOLUTION_1H, cfg.downsample_1h_after),
    ] {
        if after.is_zero() {
            continue;
        }
        let have = done(to);
        let cutoff = now_ms - after.as_millis() as i64;
        for m in candidates {
            if m.resolution == from
                && m.max_time <= cutoff
                && !m.compaction.sources.iter().all(|s| have.contains(s))
            {
                out.push(DownsampleJob {
                    block: (*m).clone(),
                    resolution: to,
                });
            }
        }
    }
    out
}

/// `ulid [min, max)` of each block, for logs.
pub(crate) fn describe(metas: &[&BlockMeta]) -> String {
    metas
        .iter()
        .map(|m| format!("{} [{}, {})", m.ulid, m.min_time, m.max_time))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
