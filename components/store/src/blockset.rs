//! Which blocks of a tenant answer a query: duplicates hidden, one resolution per
//! time range.

use std::collections::{HashMap, HashSet};

use cairn_block::BlockReader;
use ulid::Ulid;

/// The blocks of one tenant that queries may read, grouped by resolution.
#[derive(Debug, Default)]
pub(crate) struct BlockSet {
    /// `(resolution, blocks sorted by min_time)`, coarsest resolution first.
    levels: Vec<(i64, Vec<BlockReader>)>,
}

impl BlockSet {
    /// Groups `blocks`, hiding every block whose data another block already holds: one
    /// compacted from it (its sources are a subset of the other's) at the same
    /// resolution. The compactor marks such sources for deletion only after uploading
    /// the result, so until the sources are gone both exist and reading both would
    /// only cost time.
    pub(crate) fn new(blocks: Vec<BlockReader>) -> Self {
        let mut by_res: HashMap<i64, Vec<BlockReader>> = HashMap::new();
        for b in blocks {
            by_res.entry(b.meta().resolution).or_default().push(b);
        }
        let mut levels: Vec<(i64, Vec<BlockReader>)> = by_res
            .into_iter()
            .map(|(res, blocks)| {
                let mut visible = without_covered(blocks);
                visible.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
                (res, visible)
            })
            .collect();
        levels.sort_by_key(|(res, _)| std::cmp::Reverse(*res));
        Self { levels }
    }

    /// Every visible block.
    pub(crate) fn all(&self) -> impl Iterator<Item = &BlockReader> {
        self.levels.iter().flat_map(|(_, b)| b.iter())
    }

    /// Blocks covering `[mint, maxt]` like Thanos's bucket store: the coarsest
    /// resolution not above `max_resolution` wherever it has blocks, and the gaps it
    /// leaves filled from the next finer resolution, down to raw. Each block comes with
    /// the part of the range it is read for, so a finer block filling a gap is not
    /// also read where a coarser one already answers.
    pub(crate) fn for_range(
        &self,
        mint: i64,
        maxt: i64,
        max_resolution: i64,
    ) -> Vec<(&BlockReader, i64, i64)> {
        let first = self
            .levels
            .iter()
            .position(|(res, _)| *res <= max_resolution)
            .unwrap_or(self.levels.len());
        let mut out = Vec::new();
        self.fill(first, mint, maxt, &mut out);
        out
    }

    fn fill<'a>(
        &'a self,
        level: usize,
        mint: i64,
        maxt: i64,
        out: &mut Vec<(&'a BlockReader, i64, i64)>,
    ) {
        let Some((_, blocks)) = self.levels.get(level) else {
            return;
        };
        let mut start = mint;
        for b in blocks {
            let m = b.meta();
            // Block max_time is exclusive.
            if m.max_time <= mint {
                continue;
            }
            if m.min_time > maxt {
                break;
            }
            self.fill(level + 1, start, m.min_time - 1, out);
            out.push((b, mint.max(m.min_time), maxt.min(m.max_time - 1)));
            start = start.max(m.max_time);
        }
        self.fill(level + 1, start, maxt, out);
    }
}

fn without_covered(blocks: Vec<BlockReader>) -> Vec<BlockReader> {
    let sources: Vec<HashSet<Ulid>> = blocks
        .iter()
        .map(|b| {
            let s = &b.meta().compaction.sources;
            if s.is_empty() {
                HashSet::from([b.meta().ulid])
            } else {
                s.iter().copied().collect()
            }
        })
        .collect();
    let mut holders: HashMap<Ulid, Vec<usize>> = HashMap::new();
    for (i, s) in sources.iter().enumerate() {
        for u in s {
            holders.entry(*u).or_default().push(i);
        }
    }
    let covered = |i: usize| {
        let Some(any) = sources[i].iter().next() else {
            return false;
        };
        holders[any].iter().any(|&j| {
            j != i
                && sources[i].is_subset(&sources[j])
                && (sources[i].len() < sources[j].len()
                    || blocks[i].meta().ulid < blocks[j].meta().ulid)
        })
    };
    let hidden: Vec<bool> = (0..blocks.len()).map(covered).collect();
    blocks
        .into_iter()
        .zip(hidden)
        .filter_map(|(b, h)| (!h).then_some(b))
        .collect()
}
