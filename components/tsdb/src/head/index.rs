//! The head's series map and inverted index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cairn_model::{Labels, MatchOp, Matcher};

use super::series::MemSeries;

/// Series by reference and by labels, plus postings: for every label name and value,
/// the sorted references of the series carrying it.
#[derive(Debug, Default)]
pub(super) struct Index {
    series: HashMap<u64, Arc<MemSeries>>,
    /// `Labels::stable_hash` → references; more than one only on a hash collision.
    by_hash: HashMap<u64, Vec<u64>>,
    /// name → value → sorted series references. Doubles as the label names → values
    /// index (both levels are kept sorted by the `BTreeMap`s).
    postings: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    /// Every reference, sorted.
    all: Vec<u64>,
}

impl Index {
    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    pub(super) fn get(&self, series_ref: u64) -> Option<&Arc<MemSeries>> {
        self.series.get(&series_ref)
    }

    /// The series with exactly these labels.
    pub(super) fn by_labels(&self, labels: &Labels) -> Option<&Arc<MemSeries>> {
        self.by_hash
            .get(&labels.stable_hash())?
            .iter()
            .filter_map(|r| self.series.get(r))
            .find(|s| s.labels == *labels)
    }

    /// Adds a series whose reference and labels are both new to the index.
    pub(super) fn insert(&mut self, series: Arc<MemSeries>) {
        let r = series.series_ref;
        debug_assert!(!self.series.contains_key(&r));
        self.by_hash
            .entry(series.labels.stable_hash())
            .or_default()
            .push(r);
        for l in &series.labels {
            let refs = self
                .postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default();
            insert_sorted(refs, r);
        }
        insert_sorted(&mut self.all, r);
        self.series.insert(r, series);
    }

    /// Removes a series and every index entry pointing at it.
    pub(super) fn remove(&mut self, series_ref: u64) {
        let Some(series) = self.series.remove(&series_ref) else {
            return;
        };
        let hash = series.labels.stable_hash();
        if let Some(refs) = self.by_hash.get_mut(&hash) {
            refs.retain(|&r| r != series_ref);
            if refs.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        for l in &series.labels {
            let Some(values) = self.postings.get_mut(&l.name) else {
                continue;
            };
            if let Some(refs) = values.get_mut(&l.value) {
                remove_sorted(refs, series_ref);
                if refs.is_empty() {
                    values.remove(&l.value);
                }
            }
            if values.is_empty() {
                self.postings.remove(&l.name);
            }
        }
        remove_sorted(&mut self.all, series_ref);
    }

    /// All series, for a sweep.
    pub(super) fn series(&self) -> impl Iterator<Item = &Arc<MemSeries>> {
        self.series.values()
    }

    /// Label name → (value → sorted references).
    pub(super) fn postings(&self) -> &BTreeMap<String, BTreeMap<String, Vec<u64>>> {
        &self.postings
    }

    /// Sorted references of the series matching every matcher (all series when there
    /// are none).
    ///
    /// Like Prometheus's `PostingsForMatchers`: a matcher that rejects the empty string
    /// contributes the union of the postings of the values it accepts, and these are
    /// intersected; a matcher that accepts the empty string (so also selects series
    /// without the label) instead subtracts the postings of the values it rejects.
    pub(super) fn matching(&self, matchers: &[Matcher]) -> Vec<u64> {
        // Cheap and selective matchers first so the intersection shrinks quickly.
        let mut order: Vec<&Matcher> = matchers.iter().collect();
        order.sort_by_key(|m| match (m.op, m.matches_empty()) {
            (MatchOp::Equal, false) => 0,
            (_, false) => 1,
            (_, true) => 2,
        });
        let mut selected: Option<Vec<u64>> = None;
        let mut excluded: Vec<Vec<u64>> = Vec::new();
        for m in order {
            let values = self.postings.get(&m.name);
            if m.matches_empty() {
                let Some(values) = values else { continue };
                let rejected = match m.op {
                    // `!=` rejects exactly one value.
                    MatchOp::NotEqual => values.get(&m.value).cloned().unwrap_or_default(),
                    _ => union(values.iter().filter(|(v, _)| !m.matches(v)).map(|(_, p)| p)),
                };
                if !rejected.is_empty() {
                    excluded.push(rejected);
                }
            } else {
                let accepted = match (m.op, values) {
                    (_, None) => Vec::new(),
                    (MatchOp::Equal, Some(values)) => {
                        values.get(&m.value).cloned().unwrap_or_default()
                    }
                    (_, Some(values)) => {
                        union(values.iter().filter(|(v, _)| m.matches(v)).map(|(_, p)| p))
                    }
                };
                let next = match selected {
                    None => accepted,
                    Some(prev) => intersect(&prev, &accepted),
                };
                if next.is_empty() {
                    return next;
                }
                selected = Some(next);
            }
        }
        let mut result = selected.unwrap_or_else(|| self.all.clone());
        for ex in &excluded {
            result = difference(&result, ex);
        }
        result
    }
}

fn insert_sorted(v: &mut Vec<u64>, x: u64) {
    match v.last() {
        None => v.push(x),
        Some(&last) if last < x => v.push(x),
        Some(_) => {
            if let Err(i) = v.binary_search(&x) {
                v.insert(i, x);
            }
        }
    }
}

fn remove_sorted(v: &mut Vec<u64>, x: u64) {
    if let Ok(i) = v.binary_search(&x) {
        v.remove(i);
    }
}

/// Union of sorted lists, sorted and deduplicated.
fn union<'a>(lists: impl Iterator<Item = &'a Vec<u64>>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut n = 0;
    for l in lists {
        out.extend_from_slice(l);
        n += 1;
    }
    if n > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// Intersection of two sorted lists.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The elements of sorted `a` that are not in sorted `b`.
fn difference(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use cairn_model::Labels;
    use proptest::prelude::*;

    use super::*;

    fn series(r: u64, pairs: &[(&str, &str)]) -> Arc<MemSeries> {
        Arc::new(MemSeries::new(r, Labels::from_pairs(pairs.iter().copied())))
    }

    #[test]
    fn hash_collisions_are_resolved_by_comparing_labels() {
        let mut idx = Index::default();
        let a = series(1, &[("__name__", "a")]);
        let b = series(2, &[("__name__", "b")]);
        idx.insert(a.clone());
        idx.insert(b.clone());
        // Pretend b hashes like a, listed first in a's bucket.
        let ha = a.labels.stable_hash();
        idx.by_hash.get_mut(&ha).unwrap().insert(0, 2);
        assert_eq!(idx.by_labels(&a.labels).unwrap().series_ref, 1);
        assert_eq!(idx.by_labels(&b.labels).unwrap().series_ref, 2);
        idx.remove(2);
        assert!(idx.by_labels(&b.labels).is_none());
        assert_eq!(idx.matching(&[]), vec![1]);
        assert!(!idx.postings["__name__"].contains_key("b"));
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        prop::collection::btree_map("[abc]", "[xyz]{1,2}", 0..3).prop_map(Labels::from_pairs)
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let op = prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::Regex),
            Just(MatchOp::NotRegex),
        ];
        let value = prop_oneof![
            Just(String::new()),
            "[xyz]{1,2}",
            Just("x.*".to_owned()),
            Just("y|".to_owned())
        ];
        (op, "[abcd]", value).prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn matching_agrees_with_brute_force(
            sets in prop::collection::vec(arb_labels(), 0..20),
            matchers in prop::collection::vec(arb_matcher(), 0..4),
        ) {
            let mut idx = Index::default();
            let mut refs = Vec::new();
            for (i, l) in sets.into_iter().enumerate() {
                if idx.by_labels(&l).is_none() {
                    idx.insert(Arc::new(MemSeries::new(i as u64 + 1, l.clone())));
                    refs.push((i as u64 + 1, l));
                }
            }
            let expected: Vec<u64> = refs
                .iter()
                .filter(|(_, l)| matchers.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
                .map(|(r, _)| *r)
                .collect();
            prop_assert_eq!(idx.matching(&matchers), expected);
        }
    }

    #[test]
    fn set_operations_on_sorted_lists() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 7, 9]), vec![3, 7]);
        assert_eq!(difference(&[1, 3, 5, 7], &[2, 3, 7, 9]), vec![1, 5]);
        assert_eq!(difference(&[1, 2], &[]), vec![1, 2]);
        let (a, b, c) = (vec![1, 4], vec![2, 4], vec![9]);
        assert_eq!(union([&a, &b, &c].into_iter()), vec![1, 2, 4, 9]);
        let mut v = vec![1, 5];
        insert_sorted(&mut v, 3);
        insert_sorted(&mut v, 9);
        insert_sorted(&mut v, 5);
        assert_eq!(v, vec![1, 3, 5, 9]);
        remove_sorted(&mut v, 3);
        assert_eq!(v, vec![1, 5, 9]);
    }
}
