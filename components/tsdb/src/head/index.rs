//! The head's series map and inverted index.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use cairn_model::{Labels, MatchOp, Matcher};

use super::series::MemSeries;

/// Hashes `u64` keys that are series references (small, sequential) or label hashes
/// already: one multiplication spreads them over all bits, where `std`'s SipHash
/// would cost more than the rest of a lookup.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The index's hash of a label set. Only this process sees it (the index is rebuilt on
/// replay), so unlike [`Labels::stable_hash`], whose byte-at-a-time FNV-1a is fixed
/// forever, it may take the strings eight bytes at a time.
pub(super) fn label_hash<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mix_str = |mut h: u64, s: &str| {
        let mut words = s.as_bytes().chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = mix(h, u64::from_le_bytes(b));
        }
        let mut tail = [0u8; 8];
        let rest = words.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        // The length keeps "ab" + "c" apart from "a" + "bc" and from zero padding.
        mix(mix(h, u64::from_le_bytes(tail)), s.len() as u64)
    };
    // A non-zero start, so empty strings still move the state.
    let mut h = K;
    for (name, value) in pairs {
        h = mix_str(mix_str(h, name), value);
    }
    h
}

/// A map keyed by series references or label hashes.
pub(super) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// Series by reference and by labels, plus postings: for every label name and value,
/// the sorted references of the series carrying it.
#[derive(Debug, Default)]
pub(super) struct Index {
    series: U64Map<Arc<MemSeries>>,
    /// Label hash → the first series with that hash; in the head for its whole life,
    /// so one reference per series instead of a list.
    by_hash: U64Map<u64>,
    /// Further series whose labels hash like an earlier one's (collisions: rare).
    collisions: U64Map<Vec<u64>>,
    /// name → value → sorted series references. Doubles as the label names → values
    /// index (both levels are kept sorted by the `BTreeMap`s).
    postings: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    /// Every reference, sorted.
    all: Vec<u64>,
    /// Tests: every label set hashes alike, so every series collides.
    #[cfg(test)]
    colliding: bool,
}

impl Index {
    pub(super) fn hash<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
        #[cfg(test)]
        if self.colliding {
            return 42;
        }
        label_hash(pairs)
    }

    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    pub(super) fn get(&self, series_ref: u64) -> Option<&Arc<MemSeries>> {
        self.series.get(&series_ref)
    }

    /// The series with exactly these labels.
    pub(super) fn by_labels(&self, labels: &Labels) -> Option<&Arc<MemSeries>> {
        let pairs = || labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
        self.by_hash(self.hash(pairs()), pairs())
    }

    /// The series with exactly the labels `pairs`, whose [`hash`](Self::hash) is `hash`.
    pub(super) fn by_hash<'a>(
        &self,
        hash: u64,
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Option<&Arc<MemSeries>> {
        let first = self.by_hash.get(&hash)?;
        let more = self.collisions.get(&hash).map_or(&[][..], Vec::as_slice);
        std::iter::once(first)
            .chain(more)
            .filter_map(|r| self.series.get(r))
            .find(|s| s.labels.equals_pairs(pairs.clone()))
    }

    /// Adds a series whose reference and labels are both new to the index.
    pub(super) fn insert(&mut self, series: Arc<MemSeries>) {
        let r = series.series_ref;
        debug_assert!(!self.series.contains_key(&r));
        let hash = self.hash(series.labels.iter());
        if let std::collections::hash_map::Entry::Vacant(e) = self.by_hash.entry(hash) {
            e.insert(r);
        } else {
            self.collisions.entry(hash).or_default().push(r);
        }
        for (name, value) in series.labels.iter() {
            // Look up before inserting: the entry API would copy both strings for
            // every label of every new series, though almost all already exist.
            if !self.postings.contains_key(name) {
                self.postings.insert(name.to_owned(), BTreeMap::new());
            }
            let Some(values) = self.postings.get_mut(name) else {
                continue;
            };
            if !values.contains_key(value) {
                values.insert(value.to_owned(), Vec::new());
            }
            if let Some(refs) = values.get_mut(value) {
                insert_sorted(refs, r);
            }
        }
        insert_sorted(&mut self.all, r);
        self.series.insert(r, series);
    }

    /// Removes a series and every index entry pointing at it.
    pub(super) fn remove(&mut self, series_ref: u64) {
        let Some(series) = self.series.remove(&series_ref) else {
            return;
        };
        let hash = self.hash(series.labels.iter());
        let more = self.collisions.get_mut(&hash);
        if self.by_hash.get(&hash) == Some(&series_ref) {
            // Promote a colliding series, if any, to the main slot.
            match more {
                Some(refs) => {
                    let next = refs.remove(0);
                    if refs.is_empty() {
                        self.collisions.remove(&hash);
                    }
                    self.by_hash.insert(hash, next);
                }
                None => {
                    self.by_hash.remove(&hash);
                }
            }
        } else if let Some(refs) = more {
            refs.retain(|&r| r != series_ref);
            if refs.is_empty() {
                self.collisions.remove(&hash);
            }
        }
        for (name, value) in series.labels.iter() {
            let Some(values) = self.postings.get_mut(name) else {
                continue;
            };
            if let Some(refs) = values.get_mut(value) {
                remove_sorted(refs, series_ref);
                if refs.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.postings.remove(name);
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

    fn series(r: u64, pairs: &[(&str, &str)]) -> (Arc<MemSeries>, Labels) {
        let labels = Labels::from_pairs(pairs.iter().copied());
        (Arc::new(MemSeries::new(r, &labels)), labels)
    }

    #[test]
    fn hash_collisions_are_resolved_by_comparing_labels() {
        let mut idx = Index {
            colliding: true,
            ..Index::default()
        };
        let (a, la) = series(1, &[("__name__", "a")]);
        let (b, lb) = series(2, &[("__name__", "b")]);
        let (c, lc) = series(3, &[("__name__", "c")]);
        idx.insert(a);
        idx.insert(b);
        idx.insert(c);
        assert_eq!(idx.by_hash.len(), 1);
        assert_eq!(idx.collisions[&42], vec![2, 3]);
        assert_eq!(idx.by_labels(&la).unwrap().series_ref, 1);
        assert_eq!(idx.by_labels(&lb).unwrap().series_ref, 2);
        assert_eq!(idx.by_labels(&lc).unwrap().series_ref, 3);
        // Removing the first promotes the next one; removing from the list keeps the rest.
        idx.remove(1);
        assert!(idx.by_labels(&la).is_none());
        assert_eq!(idx.by_hash[&42], 2);
        assert_eq!(idx.by_labels(&lc).unwrap().series_ref, 3);
        idx.remove(3);
        assert!(idx.collisions.is_empty());
        assert_eq!(idx.by_labels(&lb).unwrap().series_ref, 2);
        assert!(idx.by_labels(&lc).is_none());
        assert_eq!(idx.matching(&[]), vec![2]);
        assert!(!idx.postings["__name__"].contains_key("a"));
        assert!(!idx.postings["__name__"].contains_key("c"));
        idx.remove(2);
        assert!(idx.by_hash.is_empty() && idx.postings.is_empty() && idx.all.is_empty());
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
                    idx.insert(Arc::new(MemSeries::new(i as u64 + 1, &l)));
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
    fn label_hash_separates_strings_and_spreads() {
        let h = |p: &[(&str, &str)]| label_hash(p.iter().copied());
        assert_eq!(h(&[("a", "bc")]), h(&[("a", "bc")]));
        assert_ne!(h(&[("a", "bc")]), h(&[("ab", "c")]));
        assert_ne!(h(&[("a", "")]), h(&[("", "a")]));
        assert_ne!(
            h(&[("a", "b"), ("c", "d")]),
            h(&[("a", "b\0\0\0\0\0\0\0c"), ("", "d")])
        );
        assert_ne!(h(&[("abcdefgh", "x")]), h(&[("abcdefg", "hx")]));
        assert_ne!(h(&[]), h(&[("", "")]));
        // Label sets like the load generator's: no collisions among 200k.
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000 {
            let id = i.to_string();
            let metric = format!("loadgen_metric_{}", i % 100);
            let l0 = format!("value_{}", i % 10);
            let hash = h(&[("__name__", &metric), ("label_0", &l0), ("series_id", &id)]);
            assert!(seen.insert(hash), "collision at {i}");
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
