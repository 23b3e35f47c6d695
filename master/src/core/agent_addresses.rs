//! Agents by address: the hostname and port an agent registers with, which
//! `/master/state` shows as its pid. A new agent (no id yet) registering from the
//! address of one the master already holds is that same agent trying again, as with
//! Mesos's `Master::_registerSlave`:
//!
//! - its registration is still being written: the new attempt is turned away (it
//!   tries again, by when the first is done);
//! - the agent there is connected: it is answered SUBSCRIBED with that agent's id, on
//!   its new stream (its first answer was lost);
//! - the agent there is disconnected: that agent is removed (its tasks are lost) and
//!   the new one registered, so no ghost holds the address's resources until timeouts.

use std::collections::{BTreeMap, HashMap};

use ratufa_proto::v1::AgentInfo;

use super::{Agent, ConnectionId, MasterCore};

/// Where an agent says it is: (hostname, port).
pub(super) type AgentAddress = (String, i32);

pub(super) fn address_of(info: &AgentInfo) -> AgentAddress {
    (info.hostname.clone(), info.port.unwrap_or(0))
}

/// The registered agents by address, and the addresses whose first registration is
/// being written.
#[derive(Debug, Default)]
pub(super) struct AddressBook {
    registered: HashMap<AgentAddress, String>,
    registering: HashMap<AgentAddress, ConnectionId>,
}

/// What holds an address a new agent registers from.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AtAddress {
    Nobody,
    /// A first registration being written, on this stream.
    Registering(ConnectionId),
    Connected(String),
    Disconnected(String),
}

impl AddressBook {
    pub(super) fn registered(&mut self, info: &AgentInfo, agent_id: &str) {
        self.registered
            .insert(address_of(info), agent_id.to_string());
    }

    /// `agent_id` left `address` (removed, or re-registered from another).
    pub(super) fn left(&mut self, address: &AgentAddress, agent_id: &str) {
        if self
            .registered
            .get(address)
            .is_some_and(|id| id == agent_id)
        {
            self.registered.remove(address);
        }
    }

    /// Every address names a registered agent that is at it.
    pub(super) fn check(&self, agents: &BTreeMap<String, Agent>) -> Result<(), String> {
        for (address, agent_id) in &self.registered {
            let agent = agents
                .get(agent_id)
                .ok_or_else(|| format!("address {address:?} names unknown agent {agent_id}"))?;
            if address_of(agent.info()) != *address {
                return Err(format!(
                    "address {address:?} names agent {agent_id}, which is elsewhere"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn registering(&mut self, info: &AgentInfo, conn: ConnectionId) {
        self.registering.insert(address_of(info), conn);
    }

    /// The first registration made on `conn` from `info`'s address is written (or
    /// failed).
    pub(super) fn registration_done(&mut self, info: &AgentInfo, conn: ConnectionId) {
        let address = address_of(info);
        if self.registering.get(&address) == Some(&conn) {
            self.registering.remove(&address);
        }
    }
}

impl MasterCore {
    /// What holds the address of `info`, a new agent's. An agent already being
    /// removed (unreachable, gone) holds nothing.
    pub(super) fn agent_at_address(&self, info: &AgentInfo) -> AtAddress {
        let address = address_of(info);
        if let Some(conn) = self.addresses.registering.get(&address) {
            return AtAddress::Registering(*conn);
        }
        let Some(agent_id) = self.addresses.registered.get(&address) else {
            return AtAddress::Nobody;
        };
        if self.is_being_removed(agent_id) {
            return AtAddress::Nobody;
        }
        match self.agents.get(agent_id) {
            Some(agent) if agent.is_connected() => AtAddress::Connected(agent_id.clone()),
            Some(_) => AtAddress::Disconnected(agent_id.clone()),
            None => AtAddress::Nobody,
        }
    }
}
