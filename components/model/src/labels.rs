use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One name/value pair of a series' identity.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value (never empty in a stored series).
    pub value: String,
}

impl Label {
    /// A label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name with unique names: the identity of a series.
///
/// Ordering is Prometheus's `labels.Compare`: pair by pair, name first then value, and
/// a prefix sorts first. StoreAPI streams and k-way merges rely on this order.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// An empty label set.
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// Builds a label set from pairs in any order; a later duplicate name wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut builder = LabelsBuilder::default();
        for (n, v) in pairs {
            builder.set(n, v);
        }
        builder.build()
    }

    /// Wraps labels that the caller guarantees are sorted by name and unique (checked in
    /// debug builds). Use [`Labels::from_pairs`] when unsure.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self(labels)
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set into its sorted labels.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without the named labels.
    pub fn without(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// A copy keeping only the named labels.
    pub fn keep_only(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|l| names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// A builder starting from these labels.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.clone(),
        }
    }

    /// A stable 64-bit hash (FNV-1a over `name 0xff value 0xff ...`). Stable across
    /// processes and releases, so it may be used for placement and sharding.
    pub fn stable_hash(&self) -> u64 {
        stable_hash_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }
}

/// [`Labels::stable_hash`] over label pairs that are not (yet) a [`Labels`], e.g. straight
/// off the wire. Pairs must be in name order for the hash to equal the built set's.
pub fn stable_hash_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = Fnv1a::new();
    for (name, value) in pairs {
        h.write(name.as_bytes());
        h.write(&[0xff]);
        h.write(value.as_bytes());
        h.write(&[0xff]);
    }
    h.finish()
}

/// 64-bit FNV-1a: tiny, dependency-free and fixed forever, unlike `std`'s hasher.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints like Prometheus: `name{a="1", b="2"}`, or `{a="1"}` without a name.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Edits a label set; setting an empty value removes the label, as in Prometheus.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// Sets `name` to `value`, or removes it when `value` is empty.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.labels.iter().position(|l| l.name == name) {
            Some(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Some(i) => self.labels[i].value = value,
            None if value.is_empty() => {}
            None => self.labels.push(Label { name, value }),
        }
        self
    }

    /// Removes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        self
    }

    /// The value currently set for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// Sorts and returns the label set.
    pub fn build(&self) -> Labels {
        let mut labels = self.labels.clone();
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Labels(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn from_pairs_sorts_and_dedups_and_drops_empty_values() {
        let l = ls(&[("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn orders_like_prometheus_labels_compare() {
        let a = ls(&[("__name__", "up"), ("job", "a")]);
        let b = ls(&[("__name__", "up"), ("job", "b")]);
        let prefix = ls(&[("__name__", "up")]);
        let other_name = ls(&[("__name__", "up"), ("instance", "z")]);
        assert!(a < b);
        assert!(prefix < a);
        // "instance" < "job": the name decides before the value.
        assert!(other_name < a);
    }

    #[test]
    fn display_puts_metric_name_first() {
        let l = ls(&[("job", "x"), ("__name__", "up")]);
        assert_eq!(l.to_string(), r#"up{job="x"}"#);
    }

    #[test]
    fn stable_hash_depends_on_names_and_values_only() {
        let a = ls(&[("a", "1"), ("b", "2")]);
        let b = ls(&[("b", "2"), ("a", "1")]);
        assert_eq!(a.stable_hash(), b.stable_hash());
        assert_ne!(a.stable_hash(), ls(&[("a", "12")]).stable_hash());
        // Separator bytes keep "a"+"12" apart from "a1"+"2".
        assert_ne!(
            ls(&[("a", "12")]).stable_hash(),
            ls(&[("a1", "2")]).stable_hash()
        );
    }
}
