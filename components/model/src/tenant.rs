use std::fmt;
use std::sync::Arc;

use crate::ModelError;

/// Longest tenant id accepted, as in Cortex and Mimir.
const MAX_TENANT_LEN: usize = 150;

/// The id of a tenant: every series, query and block belongs to exactly one.
///
/// Ids follow the Cortex/Mimir rules so they are safe as object-store path segments:
/// at most 150 characters from `[a-zA-Z0-9!-_.*'()]`, and neither `.` nor `..`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `id` and wraps it.
    pub fn new(id: &str) -> Result<Self, ModelError> {
        let fail = |reason| ModelError::InvalidTenant {
            tenant: id.to_owned(),
            reason,
        };
        if id.is_empty() {
            return Err(fail("tenant id is empty"));
        }
        if id.len() > MAX_TENANT_LEN {
            return Err(fail("tenant id is longer than 150 characters"));
        }
        if id == "." || id == ".." {
            return Err(fail("tenant id must not be '.' or '..'"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
        if !id.chars().all(allowed) {
            return Err(fail(
                "tenant id may only contain letters, digits and the characters !-_.*'()",
            ));
        }
        Ok(Self(Arc::from(id)))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cortex_style_ids_and_rejects_unsafe_ones() {
        for ok in ["anonymous", "team-a", "fake", "a.b_c(1)*'!"] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(151)] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }
}
