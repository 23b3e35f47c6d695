//! The operator API's answers, built from the same [`StateSnapshot`] that
//! `/master/state` is built from, as `mesos.v1.master.Response` messages. The big
//! ones (the state and its lists) are written in parts instead (see `parts`), with
//! the builders in `oracle` as the tests' reference.

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::master::response::{
    GetFlags, GetMaster, GetMetrics, GetRoles, GetWeights, get_agents, get_frameworks,
};

use ratufa_proto::v1::{Flag, FrameworkId, Metric, Resource, Role, WeightInfo, value};

use super::super::state::{Clock, agent_pid, epoch_secs, metric_values};
use crate::MasterHandle;
use crate::core::{AgentSnapshot, FrameworkSnapshot, StateSnapshot, Time};

pub(super) fn flags(master: &MasterHandle) -> GetFlags {
    GetFlags {
        flags: master
            .flags()
            .iter()
            .map(|(name, value)| Flag {
                name: name.clone(),
                value: Some(value.clone()),
            })
            .collect(),
    }
}

pub(super) fn metrics(master: &MasterHandle, snapshot: &StateSnapshot) -> GetMetrics {
    GetMetrics {
        metrics: metric_values(master, snapshot)
            .into_iter()
            .map(|(name, value)| Metric {
                name,
                value: Some(value),
            })
            .collect(),
    }
}

pub(super) fn agent(clock: &Clock, agent: &AgentSnapshot) -> get_agents::Agent {
    let mut allocated = Resources::new();
    for (_, used) in &agent.used_by {
        allocated += used;
    }
    get_agents::Agent {
        agent_info: (*agent.info).clone(),
        active: agent.active,
        deactivated: Some(false),
        version: agent.version.clone().unwrap_or_default(),
        pid: Some(agent_pid(agent)),
        registered_time: Some(clock.time_info(agent.registered_time)),
        reregistered_time: agent.reregistered_time.map(|t| clock.time_info(t)),
        total_resources: agent.total.as_slice().to_vec(),
        allocated_resources: allocated.into_vec(),
        offered_resources: agent.offered.as_slice().to_vec(),
        ..get_agents::Agent::default()
    }
}

pub(super) fn framework(clock: &Clock, f: &FrameworkSnapshot) -> get_frameworks::Framework {
    get_frameworks::Framework {
        framework_info: f.info.clone(),
        active: f.active,
        connected: f.connected,
        recovered: f.recovered,
        registered_time: Some(clock.time_info(f.registered_time)),
        reregistered_time: f.reregistered_time.map(|t| clock.time_info(t)),
        unregistered_time: f.unregistered_time.map(|t| clock.time_info(t)),
        offers: f.offers.clone(),
        allocated_resources: f.used_resources().into_vec(),
        offered_resources: f.offered_resources.as_slice().to_vec(),
        ..get_frameworks::Framework::default()
    }
}

/// The roles the master knows (`Master::knownRoles`): those of `--roles`, those with
/// a weight, and those frameworks are subscribed to; each with its weight, its
/// frameworks, and the scalars allocated or offered to it.
pub(super) fn roles(snapshot: &StateSnapshot) -> GetRoles {
    let roles = super::super::roles::roles(snapshot)
        .into_iter()
        .map(|(name, usage)| Role {
            weight: usage.weight,
            frameworks: usage
                .frameworks
                .iter()
                .map(|value| FrameworkId {
                    value: value.clone(),
                })
                .collect(),
            resources: usage
                .held()
                .into_iter()
                .map(|(name, amount)| scalar(name, amount))
                .collect(),
            name,
        })
        .collect();
    GetRoles { roles }
}

fn scalar(name: String, amount: f64) -> Resource {
    Resource {
        name,
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Resource::default()
    }
}

pub(super) fn weights(snapshot: &StateSnapshot) -> GetWeights {
    GetWeights {
        weight_infos: snapshot
            .weights
            .iter()
            .map(|(role, weight)| WeightInfo {
                weight: *weight,
                role: Some(role.clone()),
            })
            .collect(),
    }
}

pub(super) fn master(master: &MasterHandle, snapshot: &StateSnapshot) -> GetMaster {
    let clock = Clock::of(snapshot);
    GetMaster {
        master_info: Some(snapshot.master_info.clone()),
        start_time: Some(epoch_secs(master.started_at())),
        // The master leads from the moment this term's core starts.
        elected_time: Some(clock.epoch_secs(Time::ZERO)),
    }
}
