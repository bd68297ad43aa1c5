use thiserror::Error;

/// Everything building a ring or placing a key can fail with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RingError {
    /// Two members share an id.
    #[error("ring member {0:?} appears more than once")]
    DuplicateMember(String),
    /// A member definition is unusable (empty id or address, bad syntax).
    #[error("invalid ring member: {0}")]
    InvalidMember(String),
    /// Some members name a zone and others don't, so zone awareness would be ambiguous.
    #[error("either every ring member has a zone or none does (members without one: {0})")]
    MixedZones(String),
    /// Fewer eligible members than a quorum of the replication factor.
    #[error(
        "write quorum impossible: {eligible} healthy ACTIVE ingesters for replication factor {rf} (quorum {quorum})"
    )]
    QuorumImpossible {
        /// The replication factor asked for.
        rf: usize,
        /// Replicas that must acknowledge.
        quorum: usize,
        /// Members that could be picked.
        eligible: usize,
    },
    /// The replication factor is 0.
    #[error("replication factor must be at least 1")]
    ZeroReplicationFactor,
}
