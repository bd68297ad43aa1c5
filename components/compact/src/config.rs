use std::time::Duration;

use serde::{Deserialize, Serialize};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Compactor settings (the `compact` section of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactConfig {
    /// Time between two compaction runs over every tenant.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub interval: Duration,
    /// Compaction level ranges, smallest first; each must be a multiple of the one before.
    /// The first is the range of the blocks ingesters cut.
    #[serde(with = "duration_list")]
    pub levels: Vec<Duration>,
    /// Raw blocks whose end is older than this get a 5m-resolution copy (0 disables).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub downsample_5m_after: Duration,
    /// 5m blocks whose end is older than this get a 1h-resolution copy (0 disables).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub downsample_1h_after: Duration,
    /// How long raw blocks are kept after their end (0 keeps them forever).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub retention_raw: Duration,
    /// How long 5m blocks are kept (0 keeps them forever).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub retention_5m: Duration,
    /// How long 1h blocks are kept (0 keeps them forever).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub retention_1h: Duration,
    /// Time between a block's deletion mark and its deletion, so that queriers and store
    /// gateways that still read it finish first.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub delete_delay: Duration,
    /// Blocks not written by the compactor are ignored until they are this old (by ulid),
    /// in case the object store lists an upload before all of it is readable.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub consistency_delay: Duration,
    /// Block directories without `meta.json` are removed once their newest file is this
    /// old: uploads that died half-way.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub partial_upload_delay: Duration,
    /// External labels that only tell HA replicas apart; blocks differing only in them
    /// are merged and their samples deduplicated.
    pub replica_labels: Vec<String>,
    /// Merge overlapping blocks of one group (and deduplicate replicas). When off,
    /// overlapping blocks halt the tenant.
    pub vertical_compaction: bool,
    /// Tenants compacted at the same time.
    pub concurrency: usize,
}

impl Default for CompactConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            levels: vec![2 * HOUR, 8 * HOUR, 2 * DAY, 14 * DAY],
            downsample_5m_after: 40 * HOUR,
            downsample_1h_after: 10 * DAY,
            retention_raw: Duration::ZERO,
            retention_5m: Duration::ZERO,
            retention_1h: Duration::ZERO,
            delete_delay: 2 * DAY,
            consistency_delay: Duration::from_secs(30 * 60),
            partial_upload_delay: 2 * HOUR,
            replica_labels: vec!["replica".into(), "prometheus_replica".into()],
            vertical_compaction: true,
            concurrency: 1,
        }
    }
}

impl CompactConfig {
    /// Checks the values make sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("compact.interval must be greater than 0".into());
        }
        if self.levels.is_empty() {
            return Err("compact.levels must list at least one range".into());
        }
        let mut prev: Option<u128> = None;
        for l in &self.levels {
            let ms = l.as_millis();
            if ms == 0 || l.subsec_nanos() % 1_000_000 != 0 {
                return Err(format!(
                    "compact.levels: {} is not a positive whole number of milliseconds",
                    cairn_model::duration::format(*l)
                ));
            }
            if let Some(p) = prev {
                if ms <= p || ms % p != 0 {
                    return Err(format!(
                        "compact.levels: {} must be a larger multiple of the range before it",
                        cairn_model::duration::format(*l)
                    ));
                }
            }
            prev = Some(ms);
        }
        if !self.downsample_1h_after.is_zero()
            && !self.downsample_5m_after.is_zero()
            && self.downsample_1h_after < self.downsample_5m_after
        {
            return Err(
                "compact.downsample_1h_after must not be shorter than downsample_5m_after".into(),
            );
        }
        if self.concurrency == 0 {
            return Err("compact.concurrency must be at least 1".into());
        }
        if self.replica_labels.iter().any(|l| l.is_empty()) {
            return Err("compact.replica_labels must not contain an empty name".into());
        }
        Ok(())
    }

    /// Level ranges in milliseconds.
    pub fn level_ranges_ms(&self) -> Vec<i64> {
        self.levels.iter().map(|d| d.as_millis() as i64).collect()
    }

    /// Retention of `resolution` in milliseconds; `None` keeps blocks forever.
    pub fn retention_ms(&self, resolution: i64) -> Option<i64> {
        let d = match resolution {
            cairn_block::RESOLUTION_RAW => self.retention_raw,
            cairn_block::RESOLUTION_5M => self.retention_5m,
            _ => self.retention_1h,
        };
        (!d.is_zero()).then_some(d.as_millis() as i64)
    }
}

/// A list of Prometheus duration strings.
mod duration_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<String> = d
            .iter()
            .map(|d| cairn_model::duration::format(*d))
            .collect();
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| cairn_model::duration::parse(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        CompactConfig::default().validate().unwrap();
        assert_eq!(
            CompactConfig::default().level_ranges_ms(),
            vec![7_200_000, 28_800_000, 172_800_000, 1_209_600_000]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = CompactConfig {
            levels: vec![2 * HOUR, 3 * HOUR],
            ..CompactConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("compact.levels"));
        c.levels = vec![];
        assert!(c.validate().unwrap_err().contains("compact.levels"));
        c = CompactConfig {
            concurrency: 0,
            ..CompactConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("concurrency"));
        c = CompactConfig {
            downsample_1h_after: HOUR,
            ..CompactConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("downsample_1h_after"));
    }

    #[test]
    fn retention_zero_keeps_forever() {
        let c = CompactConfig {
            retention_raw: DAY,
            ..CompactConfig::default()
        };
        assert_eq!(
            c.retention_ms(cairn_block::RESOLUTION_RAW),
            Some(86_400_000)
        );
        assert_eq!(c.retention_ms(cairn_block::RESOLUTION_5M), None);
    }
}
