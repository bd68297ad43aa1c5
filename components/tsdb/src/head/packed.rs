//! A series' labels packed into one allocation for the head.
//!
//! A [`Labels`] is a `Vec` of `String` pairs: two heap allocations per label plus the
//! vector, so a series with 14 labels costs ~1.1 KiB and comparing it against an
//! incoming label set chases 28 pointers. The head keeps every series' labels for its
//! whole life, so it stores them packed instead — for each label in order, the name
//! length (LEB128), the name, the value length, the value — which is about a quarter
//! of the memory and compares with one scan.

use std::cmp::Ordering;
use std::fmt;

use cairn_model::{Label, Labels};

/// Labels packed as `len name len value …` (see the module docs). Built only from a
/// [`Labels`], so names are sorted and unique and every string is valid UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PackedLabels(Box<[u8]>);

impl PackedLabels {
    pub(super) fn new(labels: &Labels) -> Self {
        let len: usize = labels
            .iter()
            .map(|l| {
                varint_len(l.name.len()) + l.name.len() + varint_len(l.value.len()) + l.value.len()
            })
            .sum();
        let mut buf = Vec::with_capacity(len);
        for l in labels {
            put(&mut buf, l.name.as_bytes());
            put(&mut buf, l.value.as_bytes());
        }
        Self(buf.into_boxed_slice())
    }

    /// The (name, value) pairs in name order.
    pub(super) fn iter(&self) -> Pairs<'_> {
        Pairs { rest: &self.0 }
    }

    /// The value of label `name`, if present.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether these are exactly `labels`.
    #[cfg(test)]
    pub(super) fn equals(&self, labels: &Labels) -> bool {
        self.equals_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Whether these are exactly the `(name, value)` pairs, compared byte by byte
    /// without unpacking.
    pub(super) fn equals_pairs<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        let mut rest: &[u8] = &self.0;
        for (name, value) in pairs {
            match (take(&mut rest), take(&mut rest)) {
                (Some(n), Some(v)) if n == name.as_bytes() && v == value.as_bytes() => {}
                _ => return false,
            }
        }
        rest.is_empty()
    }

    /// The labels as a [`Labels`] (allocates).
    pub(super) fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Bytes held (for tests).
    #[cfg(test)]
    pub(super) fn packed_len(&self) -> usize {
        self.0.len()
    }
}

impl Ord for PackedLabels {
    /// The order of [`Labels`]: pair by pair, name then value, a prefix first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for PackedLabels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for PackedLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_labels(), f)
    }
}

/// Iterator over packed (name, value) pairs.
#[derive(Debug, Clone)]
pub(super) struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let n = take(&mut self.rest)?;
        let v = take(&mut self.rest)?;
        // Packed from `String`s, so the check cannot fail; it is a fast ASCII scan.
        Some((
            std::str::from_utf8(n).unwrap_or_default(),
            std::str::from_utf8(v).unwrap_or_default(),
        ))
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put(buf: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    while n >= 0x80 {
        buf.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(s);
}

/// Takes one length-prefixed string off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
    let (s, tail) = rest.split_at_checked(len)?;
    *rest = tail;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn round_trip_lookup_and_equality() {
        let long = "x".repeat(300); // a two-byte length
        let a = ls(&[
            ("__name__", "up"),
            ("job", "api"),
            ("le", &long),
            ("ünï", "çødé"),
        ]);
        let p = PackedLabels::new(&a);
        assert_eq!(p.to_labels(), a);
        assert_eq!(p.get("job"), Some("api"));
        assert_eq!(p.get("le"), Some(long.as_str()));
        assert_eq!(p.get("nope"), None);
        assert!(p.equals(&a));
        assert!(!p.equals(&ls(&[("__name__", "up"), ("job", "api")])));
        assert!(!p.equals(&ls(&[
            ("__name__", "up"),
            ("job", "apj"),
            ("le", &long),
            ("ünï", "çødé")
        ])));
        let empty = PackedLabels::new(&Labels::empty());
        assert!(empty.equals(&Labels::empty()));
        assert!(!empty.equals(&a));
        assert_eq!(format!("{p:?}"), a.to_string());
        // 4 labels: 23 string bytes + 300, 8 length bytes (one of them two bytes long).
        assert_eq!(
            p.packed_len(),
            "__name__upjobapile".len() + 300 + "ünïçødé".len() + 9
        );
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        prop::collection::btree_map("[a-c]{1,2}", "[x-z]{0,2}", 0..4).prop_map(Labels::from_pairs)
    }

    proptest! {
        #[test]
        fn order_and_equality_agree_with_labels(a in arb_labels(), b in arb_labels()) {
            let (pa, pb) = (PackedLabels::new(&a), PackedLabels::new(&b));
            prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            prop_assert_eq!(pa == pb, a == b);
            prop_assert_eq!(pa.equals(&b), a == b);
            prop_assert_eq!(pa.to_labels(), a);
        }
    }
}
