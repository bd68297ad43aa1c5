//! Ring types to and from their protobuf shapes.

use cairn_proto::cairn::meta::v1 as pb;
use cairn_ring::{Member, MemberState, Ring};

use crate::state_machine::RingSnapshot;
use crate::MetaError;

pub(crate) fn state_to_pb(s: MemberState) -> i32 {
    (match s {
        MemberState::Joining => pb::MemberState::Joining,
        MemberState::Active => pb::MemberState::Active,
        MemberState::Leaving => pb::MemberState::Leaving,
        MemberState::Unhealthy => pb::MemberState::Unhealthy,
    }) as i32
}

pub(crate) fn state_from_pb(s: i32) -> Result<MemberState, MetaError> {
    match pb::MemberState::try_from(s) {
        Ok(pb::MemberState::Joining) => Ok(MemberState::Joining),
        Ok(pb::MemberState::Active) => Ok(MemberState::Active),
        Ok(pb::MemberState::Leaving) => Ok(MemberState::Leaving),
        Ok(pb::MemberState::Unhealthy) => Ok(MemberState::Unhealthy),
        _ => Err(MetaError::InvalidRequest(format!(
            "unknown member state {s}"
        ))),
    }
}

pub(crate) fn member_to_pb(m: &Member) -> pb::Member {
    pb::Member {
        id: m.id.clone(),
        addr: m.addr.clone(),
        zone: m.zone.clone(),
        tokens: m.tokens.clone(),
        state: state_to_pb(m.state),
        last_heartbeat_ms: m.last_heartbeat_ms.unwrap_or(0),
    }
}

pub(crate) fn ring_to_pb(snapshot: &RingSnapshot) -> pb::RingState {
    pb::RingState {
        members: snapshot.data.members.values().map(member_to_pb).collect(),
        version: snapshot.version,
    }
}

pub(crate) fn ring_from_pb(state: pb::RingState) -> Result<Ring, MetaError> {
    let members = state
        .members
        .into_iter()
        .map(|m| {
            Ok(Member {
                state: state_from_pb(m.state)?,
                last_heartbeat_ms: (m.last_heartbeat_ms != 0).then_some(m.last_heartbeat_ms),
                id: m.id,
                addr: m.addr,
                zone: m.zone,
                tokens: m.tokens,
            })
        })
        .collect::<Result<Vec<_>, MetaError>>()?;
    Ring::new(members)
        .map_err(|e| MetaError::Unavailable(format!("meta sent an invalid ring: {e}")))
}
