//! Metric metadata — type, help and unit per metric family — as remote-write clients
//! send it, kept in memory per tenant and served through the Thanos Metadata API.
//!
//! ```text
//!  Push.metadata ──add──▶ tenant → family → [(type, help, unit), last sent]
//!                                     │ entries not sent again within the retain
//!                                     ▼ period are dropped when read
//!  thanos.Metadata/MetricMetadata ◀──get(metric, limit)
//! ```
//!
//! Like Mimir's ingesters it is not written to the WAL: clients re-send all of it
//! periodically (Prometheus every minute), so a restart forgets it for a minute at most.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_model::TenantId;
use cairn_proto::wire::WireMetadata;

/// One distinct description of a metric family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricMeta {
    /// `counter`, `gauge`, … as Prometheus's API spells it.
    pub kind: &'static str,
    /// Help text.
    pub help: String,
    /// Unit (often empty).
    pub unit: String,
}

#[derive(Debug, Default)]
struct TenantMetadata {
    families: HashMap<String, Vec<(MetricMeta, Instant)>>,
}

/// Every tenant's metric metadata.
#[derive(Debug)]
pub(crate) struct MetadataStore {
    tenants: Mutex<HashMap<TenantId, TenantMetadata>>,
    retain: Duration,
    max_families: usize,
}

impl MetadataStore {
    pub(crate) fn new(retain: Duration, max_families: usize) -> Self {
        Self {
            tenants: Mutex::default(),
            retain,
            max_families,
        }
    }

    /// Records what a client sent; returns how many entries were dropped because the
    /// tenant is at its limit of metric families.
    pub(crate) fn add(&self, tenant: &TenantId, metadata: &[WireMetadata<'_>]) -> usize {
        if metadata.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let t = tenants.entry(tenant.clone()).or_default();
        let mut dropped = 0;
        for m in metadata {
            if m.family.is_empty() {
                continue;
            }
            let meta = MetricMeta {
                kind: m.kind_name(),
                help: m.help.to_owned(),
                unit: m.unit.to_owned(),
            };
            let known = t.families.len();
            let entries = match t.families.get_mut(m.family) {
                Some(entries) => entries,
                None if known >= self.max_families => {
                    dropped += 1;
                    continue;
                }
                None => t.families.entry(m.family.to_owned()).or_default(),
            };
            match entries.iter_mut().find(|(e, _)| *e == meta) {
                Some((_, seen)) => *seen = now,
                None => entries.push((meta, now)),
            }
        }
        dropped
    }

    /// `tenant`'s metadata for `metric` (every family if `None`), at most `limit`
    /// families (0 = all), each family's descriptions sorted. Expired entries go first.
    pub(crate) fn get(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
    ) -> BTreeMap<String, Vec<MetricMeta>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let Some(t) = tenants.get_mut(tenant) else {
            return BTreeMap::new();
        };
        let now = Instant::now();
        t.families.retain(|_, entries| {
            entries.retain(|(_, seen)| now.duration_since(*seen) <= self.retain);
            !entries.is_empty()
        });
        let mut families: Vec<&String> = t
            .families
            .keys()
            .filter(|family| metric.is_none_or(|m| m == family.as_str()))
            .collect();
        // The first `limit` in name order, as the API's limit is applied.
        families.sort_unstable();
        if limit > 0 {
            families.truncate(limit);
        }
        families
            .into_iter()
            .map(|family| {
                let mut metas: Vec<MetricMeta> =
                    t.families[family].iter().map(|(m, _)| m.clone()).collect();
                metas.sort();
                (family.clone(), metas)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta<'a>(kind: i32, family: &'a str, help: &'a str) -> WireMetadata<'a> {
        WireMetadata {
            kind,
            family,
            help,
            unit: "",
            raw: &[],
        }
    }

    #[test]
    fn metadata_is_kept_per_tenant_deduplicated_limited_and_expired() {
        let store = MetadataStore::new(Duration::from_millis(200), 2);
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        let dropped = store.add(
            &a,
            &[
                meta(1, "http_requests_total", "Requests."),
                meta(1, "http_requests_total", "Requests."),
                meta(2, "temperature", "Degrees."),
                meta(2, "third", "Over the limit."),
                meta(0, "", "No family."),
            ],
        );
        assert_eq!(dropped, 1);
        let got = store.get(&a, None, 0);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["http_requests_total", "temperature"]
        );
        assert_eq!(
            got["http_requests_total"],
            [MetricMeta {
                kind: "counter",
                help: "Requests.".into(),
                unit: String::new()
            }]
        );
        // A changed help text is a second description until the first expires.
        store.add(&a, &[meta(1, "http_requests_total", "All requests.")]);
        assert_eq!(
            store.get(&a, Some("http_requests_total"), 0)["http_requests_total"].len(),
            2
        );
        assert_eq!(store.get(&a, None, 1).len(), 1);
        assert!(store.get(&b, None, 0).is_empty());

        std::thread::sleep(Duration::from_millis(120));
        store.add(&a, &[meta(1, "http_requests_total", "All requests.")]);
        std::thread::sleep(Duration::from_millis(120));
        let got = store.get(&a, None, 0);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["http_requests_total"]);
        assert_eq!(got["http_requests_total"][0].help, "All requests.");
        assert_eq!(got["http_requests_total"].len(), 1);
    }
}
