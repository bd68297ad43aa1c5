//! Bounded in-memory caches shared by every block a process reads.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use ulid::Ulid;

/// A least-recently-used map bounded by the summed weight of its values.
#[derive(Debug)]
struct Lru<K, V> {
    entries: HashMap<K, (V, usize, u64)>,
    order: BTreeMap<u64, K>,
    tick: u64,
    weight: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            weight: 0,
            capacity,
        }
    }

    fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let (v, _, t) = self.entries.get_mut(k)?;
        self.order.remove(t);
        *t = self.tick;
        self.order.insert(self.tick, k.clone());
        Some(v.clone())
    }

    fn insert(&mut self, k: K, v: V, weight: usize) {
        if weight > self.capacity {
            return;
        }
        self.remove(&k);
        self.tick += 1;
        self.entries.insert(k.clone(), (v, weight, self.tick));
        self.order.insert(self.tick, k);
        self.weight += weight;
        while self.weight > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, w, _)) = self.entries.remove(&oldest) {
                self.weight -= w;
            }
        }
    }

    fn remove(&mut self, k: &K) {
        if let Some((_, w, t)) = self.entries.remove(k) {
            self.order.remove(&t);
            self.weight -= w;
        }
    }
}

/// Cache sizes in bytes.
#[derive(Debug, Clone, Copy)]
pub struct CacheSizes {
    /// Parquet footers (schema, row-group statistics, page indexes).
    pub metadata_bytes: usize,
    /// Byte ranges read from block files (label and chunk pages).
    pub data_bytes: usize,
}

impl Default for CacheSizes {
    fn default() -> Self {
        Self {
            metadata_bytes: 64 << 20,
            data_bytes: 256 << 20,
        }
    }
}

/// Hit/miss counters of the caches.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Metadata served from memory.
    pub metadata_hits: AtomicU64,
    /// Metadata read from the bucket.
    pub metadata_misses: AtomicU64,
    /// Byte ranges served from memory.
    pub data_hits: AtomicU64,
    /// Byte ranges read from the bucket.
    pub data_misses: AtomicU64,
    /// Bytes read from the bucket.
    pub bytes_fetched: AtomicU64,
}

/// A byte range of a block's file: (block, start, end).
type RangeKey = (Ulid, u64, u64);

/// The caches of a block reader process; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlockCaches {
    metadata: Arc<Mutex<Lru<Ulid, ArrowReaderMetadata>>>,
    data: Arc<Mutex<Lru<RangeKey, Bytes>>>,
    stats: Arc<CacheStats>,
}

impl BlockCaches {
    /// Caches bounded by `sizes`.
    pub fn new(sizes: CacheSizes) -> Self {
        Self {
            metadata: Arc::new(Mutex::new(Lru::new(sizes.metadata_bytes))),
            data: Arc::new(Mutex::new(Lru::new(sizes.data_bytes))),
            stats: Arc::new(CacheStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Bytes held right now by the metadata and the data cache.
    pub fn usage(&self) -> CacheSizes {
        CacheSizes {
            metadata_bytes: self.metadata.lock().weight,
            data_bytes: self.data.lock().weight,
        }
    }

    pub(crate) fn metadata(&self, block: &Ulid) -> Option<ArrowReaderMetadata> {
        let hit = self.metadata.lock().get(block);
        let counter = if hit.is_some() {
            &self.stats.metadata_hits
        } else {
            &self.stats.metadata_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    pub(crate) fn put_metadata(&self, block: Ulid, m: ArrowReaderMetadata) {
        let weight = m.metadata().memory_size();
        self.metadata.lock().insert(block, m, weight);
    }

    pub(crate) fn data(&self, block: Ulid, start: u64, end: u64) -> Option<Bytes> {
        let hit = self.data.lock().get(&(block, start, end));
        let counter = if hit.is_some() {
            &self.stats.data_hits
        } else {
            &self.stats.data_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    pub(crate) fn put_data(&self, block: Ulid, start: u64, end: u64, b: Bytes) {
        self.stats
            .bytes_fetched
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        let w = b.len();
        self.data.lock().insert((block, start, end), b, w);
    }

    /// Forgets a block (when it is deleted from the bucket).
    pub fn evict_block(&self, block: &Ulid) {
        self.metadata.lock().remove(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used_by_weight() {
        let mut l = Lru::new(10);
        l.insert(1, "a", 4);
        l.insert(2, "b", 4);
        assert_eq!(l.get(&1), Some("a"));
        l.insert(3, "c", 4); // evicts 2, the least recently used
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some("a"));
        assert_eq!(l.get(&3), Some("c"));
        assert!(l.weight <= 10);
        l.insert(4, "huge", 11); // larger than the cache: not kept
        assert_eq!(l.get(&4), None);
        l.remove(&1);
        assert_eq!(l.weight, 4);
    }
}
