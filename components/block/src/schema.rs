//! Column naming of the Parquet file.

/// Prefix of label columns: label `job` is column `l_job`.
pub const LABEL_PREFIX: &str = "l_";
/// Hash of the series labels (`Labels::stable_hash`).
pub const HASH_COLUMN: &str = "s_hash";
/// First sample timestamp of the series in the block.
pub const MIN_TIME_COLUMN: &str = "s_min_time";
/// Last sample timestamp of the series in the block.
pub const MAX_TIME_COLUMN: &str = "s_max_time";
/// Prefix of chunk columns: slice `i` is column `s_data_<i>`.
pub const DATA_PREFIX: &str = "s_data_";

/// The column of label `name`.
pub fn label_column(name: &str) -> String {
    format!("{LABEL_PREFIX}{name}")
}

/// The column of chunk slice `i`.
pub fn data_column(i: usize) -> String {
    format!("{DATA_PREFIX}{i}")
}
