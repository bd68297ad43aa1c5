use std::cmp::Reverse;
use std::collections::BinaryHeap;

use cairn_model::Labels;

use crate::{RawChunk, RawSeries};

/// K-way merges per-store series lists, each sorted by labels, into one sorted list.
/// Series with equal labels from different stores (replicas, or a head and a block)
/// become one series whose chunks are all of theirs sorted by `min_time`, exact
/// duplicate chunks dropped; overlapping samples are resolved when the chunks are
/// decoded.
pub fn merge_sorted(streams: Vec<Vec<RawSeries>>) -> Vec<RawSeries> {
    let total: usize = streams.iter().map(Vec::len).sum();
    let mut iters: Vec<_> = streams.into_iter().map(Vec::into_iter).collect();
    let mut heap: BinaryHeap<Reverse<(Labels, usize)>> = BinaryHeap::new();
    let mut heads: Vec<Option<RawSeries>> = Vec::with_capacity(iters.len());
    for (i, it) in iters.iter_mut().enumerate() {
        let next = it.next();
        if let Some(s) = &next {
            heap.push(Reverse((s.labels.clone(), i)));
        }
        heads.push(next);
    }
    let mut out: Vec<RawSeries> = Vec::with_capacity(total);
    while let Some(Reverse((labels, i))) = heap.pop() {
        let Some(series) = heads[i].take() else {
            continue;
        };
        if let Some(next) = iters[i].next() {
            heap.push(Reverse((next.labels.clone(), i)));
            heads[i] = Some(next);
        }
        match out.last_mut() {
            Some(last) if last.labels == labels => {
                last.chunks.extend(series.chunks);
                sort_and_dedup_chunks(&mut last.chunks);
            }
            _ => out.push(series),
        }
    }
    out
}

/// Sorts chunks by time and drops exact duplicates (the same chunk read from two
/// overlapping blocks, or from two replicas that cut identical chunks).
pub fn sort_and_dedup_chunks(chunks: &mut Vec<RawChunk>) {
    chunks.sort_by_key(|c| (c.min_time, c.max_time));
    let mut out: Vec<RawChunk> = Vec::with_capacity(chunks.len());
    for c in chunks.drain(..) {
        let same_range = out
            .iter()
            .rev()
            .take_while(|o| (o.min_time, o.max_time) == (c.min_time, c.max_time));
        if !same_range.into_iter().any(|o| *o == c) {
            out.push(c);
        }
    }
    *chunks = out;
}

/// Sorted, unique union of the label names or values several stores (or blocks)
/// returned.
pub fn sorted_union(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, min_times: &[i64]) -> RawSeries {
        RawSeries {
            labels: Labels::from_pairs([("__name__", name)]),
            chunks: min_times
                .iter()
                .map(|&t| RawChunk::xor(t, t + 10, vec![t as u8]))
                .collect(),
        }
    }

    #[test]
    fn merges_sorted_streams_and_combines_equal_series() {
        let a = vec![series("a", &[0]), series("c", &[0])];
        let b = vec![series("b", &[0]), series("c", &[20])];
        let c = vec![];
        let merged = merge_sorted(vec![a, b, c]);
        let names: Vec<_> = merged
            .iter()
            .map(|s| s.labels.metric_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let starts: Vec<_> = merged[2].chunks.iter().map(|c| c.min_time).collect();
        assert_eq!(starts, [0, 20]);
    }

    #[test]
    fn identical_chunks_from_two_stores_are_kept_once() {
        let a = vec![series("c", &[0, 20])];
        let b = vec![series("c", &[20, 40])];
        let mut different = series("c", &[20]);
        different.chunks[0].data = vec![99];
        let merged = merge_sorted(vec![a, b, vec![different]]);
        let starts: Vec<_> = merged[0].chunks.iter().map(|c| c.min_time).collect();
        assert_eq!(starts, [0, 20, 20, 40]);
    }
}
