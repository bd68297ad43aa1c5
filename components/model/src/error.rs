use thiserror::Error;

/// Everything that can be wrong with model values built from untrusted input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// A regular expression in a `=~` or `!~` matcher does not compile.
    #[error("invalid regular expression {pattern:?} in matcher for label {label:?}: {reason}")]
    InvalidRegex {
        /// The label the matcher applies to.
        label: String,
        /// The pattern as given.
        pattern: String,
        /// Why the regex engine rejected it.
        reason: String,
    },
    /// A tenant id that is empty, too long or has characters that are unsafe in paths.
    #[error("invalid tenant id {tenant:?}: {reason}")]
    InvalidTenant {
        /// The tenant id as given.
        tenant: String,
        /// What rule it breaks.
        reason: &'static str,
    },
}
