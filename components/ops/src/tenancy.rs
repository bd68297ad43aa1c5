//! Which tenant an HTTP request belongs to.
//!
//! Order: `X-Scope-OrgID` (Cortex/Mimir), then `THANOS-TENANT` (Thanos), then the
//! basic-auth username when enabled (Prometheus 2.42 cannot send custom remote_write
//! headers but can send basic auth), then the configured default tenant.

use axum::http::{header, HeaderMap, StatusCode};
use cairn_model::TenantId;
use serde::{Deserialize, Serialize};

/// Header names checked for a tenant id, in order.
pub const TENANT_HEADERS: [&str; 2] = ["X-Scope-OrgID", "THANOS-TENANT"];

/// How requests are assigned to tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    /// Tenant for requests that name none. Empty means such requests are refused (401).
    pub default_tenant: String,
    /// Use the HTTP basic-auth username as the tenant when no tenant header is set.
    pub basic_auth_username_as_tenant: bool,
    /// If not empty, only these tenants are accepted; others get 403.
    pub allowed_tenants: Vec<String>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            default_tenant: "anonymous".to_owned(),
            basic_auth_username_as_tenant: false,
            allowed_tenants: Vec::new(),
        }
    }
}

/// Why no tenant could be assigned; maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// No header, no usable basic auth, and no default tenant.
    #[error("no tenant id: set the X-Scope-OrgID header")]
    Missing,
    /// The id breaks the naming rules.
    #[error("{0}")]
    Invalid(String),
    /// The id is not in `allowed_tenants`.
    #[error("unknown tenant {0:?}")]
    NotAllowed(String),
}

impl TenantError {
    /// 401 for a missing tenant, 400 for an invalid id, 403 for an unknown tenant.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::UNAUTHORIZED,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotAllowed(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl TenancyConfig {
    /// Checks the configured ids.
    pub fn validate(&self) -> Result<(), String> {
        if !self.default_tenant.is_empty() {
            TenantId::new(&self.default_tenant)
                .map_err(|e| format!("tenancy.default_tenant: {e}"))?;
        }
        for t in &self.allowed_tenants {
            TenantId::new(t).map_err(|e| format!("tenancy.allowed_tenants: {e}"))?;
        }
        Ok(())
    }

    /// The tenant of a request with these headers.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<TenantId, TenantError> {
        let from_header = TENANT_HEADERS
            .iter()
            .find_map(|h| headers.get(*h))
            .map(|v| {
                v.to_str()
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| TenantError::Invalid("tenant header is not ascii".to_owned()))
            })
            .transpose()?;
        let id = match from_header {
            Some(id) => id,
            None => match self
                .basic_auth_username_as_tenant
                .then(|| basic_auth_username(headers))
                .flatten()
            {
                Some(user) => user,
                None if self.default_tenant.is_empty() => return Err(TenantError::Missing),
                None => self.default_tenant.clone(),
            },
        };
        let tenant = TenantId::new(&id).map_err(|e| TenantError::Invalid(e.to_string()))?;
        if !self.allowed_tenants.is_empty() && !self.allowed_tenants.contains(&id) {
            return Err(TenantError::NotAllowed(id));
        }
        Ok(tenant)
    }
}

fn basic_auth_username(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| user.to_owned())
}

/// Standard-alphabet base64 with optional padding; enough for an Authorization header.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn header_order_then_basic_auth_then_default() {
        let mut cfg = TenancyConfig::default();
        assert_eq!(cfg.resolve(&headers(&[])).unwrap().as_str(), "anonymous");
        let both = headers(&[("X-Scope-OrgID", "a"), ("THANOS-TENANT", "b")]);
        assert_eq!(cfg.resolve(&both).unwrap().as_str(), "a");
        let thanos = headers(&[("THANOS-TENANT", "b")]);
        assert_eq!(cfg.resolve(&thanos).unwrap().as_str(), "b");
        // "team-x:secret"
        let auth = headers(&[("authorization", "Basic dGVhbS14OnNlY3JldA==")]);
        assert_eq!(cfg.resolve(&auth).unwrap().as_str(), "anonymous");
        cfg.basic_auth_username_as_tenant = true;
        assert_eq!(cfg.resolve(&auth).unwrap().as_str(), "team-x");
    }

    #[test]
    fn missing_invalid_and_unknown_tenants_are_refused() {
        let cfg = TenancyConfig {
            default_tenant: String::new(),
            basic_auth_username_as_tenant: false,
            allowed_tenants: vec!["a".into()],
        };
        assert_eq!(cfg.resolve(&headers(&[])), Err(TenantError::Missing));
        assert!(matches!(
            cfg.resolve(&headers(&[("X-Scope-OrgID", "a/b")])),
            Err(TenantError::Invalid(_))
        ));
        assert_eq!(
            cfg.resolve(&headers(&[("X-Scope-OrgID", "zzz")])),
            Err(TenantError::NotAllowed("zzz".into()))
        );
        assert_eq!(
            cfg.resolve(&headers(&[("X-Scope-OrgID", "a")]))
                .unwrap()
                .as_str(),
            "a"
        );
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("!!").is_none());
    }
}
