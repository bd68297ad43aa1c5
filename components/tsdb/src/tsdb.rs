//! Many tenants, one [`Head`] each.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::{Matcher, TenantId};
use parking_lot::RwLock;
use tracing::warn;

use crate::error::{io_err, Error, Result};
use crate::head::{AppendReport, AppendSeries, Head, HeadOptions, SeriesChunks};

/// Name of the WAL directory inside a tenant's directory.
const WAL_DIR: &str = "wal";

/// How a [`Tsdb`] stores data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsdbOptions {
    /// Options for every tenant's head and WAL.
    pub head: HeadOptions,
}

/// The ingester's storage: one [`Head`] and WAL per tenant under
/// `<dir>/<tenant>/wal/`. Tenants are opened lazily on first write and all existing
/// ones are replayed by [`Tsdb::open`]. Thread-safe; share it behind an `Arc`.
#[derive(Debug)]
pub struct Tsdb {
    dir: PathBuf,
    options: TsdbOptions,
    heads: RwLock<Heads>,
}

#[derive(Debug, Default)]
struct Heads {
    by_tenant: BTreeMap<TenantId, Arc<Head>>,
    closed: bool,
}

impl Tsdb {
    /// Opens (creating if needed) the storage in `dir` and replays every tenant found
    /// there. Directory entries that are not valid tenant ids are skipped with a
    /// warning.
    pub fn open(dir: impl AsRef<Path>, options: TsdbOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create tsdb directory", &dir))?;
        let mut heads = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list tsdb directory", &dir))? {
            let entry = entry.map_err(io_err("list tsdb directory", &dir))?;
            let path = entry.path();
            if !path.join(WAL_DIR).is_dir() {
                continue;
            }
            let tenant = entry.file_name().to_str().map(TenantId::new);
            let Some(Ok(tenant)) = tenant else {
                warn!(path = %path.display(), "skipping directory that is not a valid tenant id");
                continue;
            };
            let head = Head::open(path.join(WAL_DIR), options.head)?;
            heads.insert(tenant, Arc::new(head));
        }
        Ok(Self {
            dir,
            options,
            heads: RwLock::new(Heads {
                by_tenant: heads,
                closed: false,
            }),
        })
    }

    /// Appends a batch to `tenant`'s head, creating the tenant if it is new. See
    /// [`Head::append`] for the rules and the durability contract.
    pub fn append<S: AppendSeries>(&self, tenant: &TenantId, batch: &[S]) -> Result<AppendReport> {
        self.head_or_create(tenant)?.append(batch)
    }

    fn head_or_create(&self, tenant: &TenantId) -> Result<Arc<Head>> {
        // A closed tenant's head refuses the append itself.
        if let Some(head) = self.head(tenant) {
            return Ok(head);
        }
        let mut heads = self.heads.write();
        if let Some(head) = heads.by_tenant.get(tenant) {
            return Ok(head.clone());
        }
        if heads.closed {
            return Err(Error::Closed {
                dir: self.dir.join(tenant.as_str()).join(WAL_DIR),
            });
        }
        let wal_dir = self.dir.join(tenant.as_str()).join(WAL_DIR);
        let head = Arc::new(Head::open(wal_dir, self.options.head)?);
        heads.by_tenant.insert(tenant.clone(), head.clone());
        Ok(head)
    }

    /// `tenant`'s head, if it has one.
    pub fn head(&self, tenant: &TenantId) -> Option<Arc<Head>> {
        self.heads.read().by_tenant.get(tenant).cloned()
    }

    /// [`Head::select`] on `tenant`'s head; empty for an unknown tenant.
    pub fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<SeriesChunks> {
        self.head(tenant)
            .map(|h| h.select(matchers, mint, maxt))
            .unwrap_or_default()
    }

    /// Tenants with a head, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.heads.read().by_tenant.keys().cloned().collect()
    }

    /// Fsyncs every tenant's WAL; call it periodically under
    /// [`crate::FsyncPolicy::Interval`]. Tries all tenants and returns the first error.
    pub fn sync(&self) -> Result<()> {
        let heads: Vec<Arc<Head>> = self.heads.read().by_tenant.values().cloned().collect();
        let mut first_err = None;
        for head in heads {
            if let Err(e) = head.sync() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Fsyncs and closes every tenant's WAL. Later appends fail with
    /// [`Error::Closed`]; queries keep working. Tries all tenants and returns the first
    /// error; closing twice is a no-op.
    pub fn close(&self) -> Result<()> {
        let heads: Vec<Arc<Head>> = {
            let mut heads = self.heads.write();
            heads.closed = true;
            heads.by_tenant.values().cloned().collect()
        };
        let mut first_err = None;
        for head in heads {
            if let Err(e) = head.close() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use cairn_model::{Labels, MatchOp, Matcher, Sample};

    use super::*;
    use crate::wal::{FsyncPolicy, WalOptions};

    fn opts(fsync: FsyncPolicy) -> TsdbOptions {
        TsdbOptions {
            head: HeadOptions {
                wal: WalOptions {
                    segment_size: 1 << 20,
                    fsync,
                },
                ..HeadOptions::default()
            },
        }
    }

    fn tenant(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    fn batch(name: &str, ts: &[i64]) -> Vec<(Labels, Vec<Sample>)> {
        vec![(
            Labels::from_pairs([("__name__", name), ("job", "j")]),
            ts.iter().map(|&t| Sample::new(t, 1.0)).collect(),
        )]
    }

    fn names(db: &Tsdb, t: &TenantId) -> Vec<String> {
        db.select(t, &[], i64::MIN, i64::MAX)
            .iter()
            .map(|s| s.labels.to_string())
            .collect()
    }

    #[test]
    fn tenants_are_isolated_and_opened_lazily() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Tsdb::open(tmp.path(), opts(FsyncPolicy::Never)).unwrap();
        let (a, b) = (tenant("team-a"), tenant("team-b"));
        assert!(db.tenants().is_empty());
        assert!(db.head(&a).is_none());
        assert!(db.select(&a, &[], 0, 10).is_empty());

        db.append(&a, &batch("only_a", &[1, 2])).unwrap();
        db.append(&b, &batch("only_b", &[1])).unwrap();
        // Same labels in both tenants are separate series with separate rules.
        db.append(&a, &batch("shared", &[5])).unwrap();
        let r = db.append(&b, &batch("shared", &[3])).unwrap();
        assert_eq!(
            r.appended, 1,
            "b's series is independent of a's newer sample"
        );

        assert_eq!(db.tenants(), vec![a.clone(), b.clone()]);
        assert!(tmp.path().join("team-a/wal/00000000").is_file());
        assert_eq!(
            names(&db, &a),
            vec![r#"only_a{job="j"}"#, r#"shared{job="j"}"#]
        );
        assert_eq!(
            names(&db, &b),
            vec![r#"only_b{job="j"}"#, r#"shared{job="j"}"#]
        );
        let ha = db.head(&a).unwrap();
        assert_eq!(
            ha.label_values("__name__", &[], 0, 10),
            vec!["only_a", "shared"]
        );
        let m = Matcher::new(MatchOp::Regex, "__name__", "only_.*").unwrap();
        assert_eq!(ha.select(&[m], 0, 10).len(), 1);
        assert_eq!(ha.stats().num_series, 2);
    }

    #[test]
    fn open_replays_every_tenant() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tenant("a"), tenant("b"));
        {
            let db = Tsdb::open(tmp.path(), opts(FsyncPolicy::Always)).unwrap();
            db.append(&a, &batch("x", &[1, 2, 3])).unwrap();
            db.append(&b, &batch("y", &[4])).unwrap();
            // Dropped without close: everything acknowledged is in the WAL already.
        }
        fs::create_dir_all(tmp.path().join("not a tenant/wal")).unwrap();
        fs::create_dir_all(tmp.path().join("no-wal-dir")).unwrap();
        fs::write(tmp.path().join("stray-file"), b"x").unwrap();
        let db = Tsdb::open(tmp.path(), opts(FsyncPolicy::Never)).unwrap();
        assert_eq!(db.tenants(), vec![a.clone(), b.clone()]);
        assert_eq!(db.head(&a).unwrap().stats().num_samples, 3);
        assert_eq!(db.head(&a).unwrap().replay_stats().samples, 3);
        assert_eq!(names(&db, &b), vec![r#"y{job="j"}"#]);
        let r = db.append(&a, &batch("x", &[3, 2])).unwrap();
        assert_eq!((r.appended, r.rejected_count()), (1, 1));
    }

    #[test]
    fn sync_and_close() {
        let tmp = tempfile::tempdir().unwrap();
        let every = FsyncPolicy::Interval(std::time::Duration::from_secs(3600));
        let db = Arc::new(Tsdb::open(tmp.path(), opts(every)).unwrap());
        let a = tenant("a");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let t = tenant(&format!("t{i}"));
                    for ts in 0..50 {
                        db.append(&t, &batch("m", &[ts])).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        db.append(&a, &batch("x", &[1])).unwrap();
        db.sync().unwrap();
        db.close().unwrap();
        db.close().unwrap();
        db.sync().unwrap();
        let err = db.append(&a, &batch("x", &[2])).unwrap_err();
        assert!(matches!(err, Error::Closed { .. }), "{err}");
        let err = db.append(&tenant("new"), &batch("x", &[2])).unwrap_err();
        assert!(matches!(err, Error::Closed { .. }), "{err}");
        assert_eq!(names(&db, &a).len(), 1, "queries still work after close");
        drop(db);
        let db = Tsdb::open(tmp.path(), opts(every)).unwrap();
        assert_eq!(db.tenants().len(), 5);
        assert_eq!(db.head(&tenant("t3")).unwrap().stats().num_samples, 50);
    }

    #[test]
    fn tsdb_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tsdb>();
        check::<Head>();
    }
}
