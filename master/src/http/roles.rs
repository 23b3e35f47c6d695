//! What the master knows of each role, for the operator API's GET_ROLES and for
//! `/master/roles` (also `/roles`), the endpoint Mesos's web UI and operators' scripts
//! read: weight, frameworks, and the scalar quantities allocated and offered in it.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::state::{number, with_snapshot};
use crate::MasterHandle;
use crate::core::StateSnapshot;

/// Mesos lists only these quantities per role.
const QUANTITIES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// One role as the master knows it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct RoleUsage {
    pub weight: f64,
    /// Ids of the frameworks subscribed to the role.
    pub frameworks: BTreeSet<String>,
    /// Held by tasks and executors, by resource name.
    pub allocated: BTreeMap<String, f64>,
    pub offered: BTreeMap<String, f64>,
}

impl RoleUsage {
    /// Allocated and offered together (Mesos's deprecated `resources`).
    pub(super) fn held(&self) -> BTreeMap<String, f64> {
        let mut held = self.allocated.clone();
        for (name, amount) in &self.offered {
            *held.entry(name.clone()).or_default() += amount;
        }
        held
    }
}

/// The roles the master knows: in the `--roles` whitelist, given a weight, or
/// subscribed to or held by a framework; by name.
pub(super) fn roles(snapshot: &StateSnapshot) -> BTreeMap<String, RoleUsage> {
    let mut known: BTreeMap<String, RoleUsage> = BTreeMap::new();
    for role in snapshot.role_whitelist.iter().flatten() {
        known.entry(role.clone()).or_default();
    }
    for (role, _) in &snapshot.weights {
        known.entry(role.clone()).or_default();
    }
    for framework in &snapshot.frameworks {
        let id = framework
            .info
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        for role in &framework.roles {
            known
                .entry(role.clone())
                .or_default()
                .frameworks
                .insert(id.clone());
        }
        let held = [
            (framework.used_resources(), false),
            (framework.offered_resources.clone(), true),
        ];
        for (resources, offered) in held {
            for resource in resources.iter() {
                let (Some(role), Some(scalar)) = (
                    resource
                        .allocation_info
                        .as_ref()
                        .and_then(|a| a.role.clone()),
                    &resource.scalar,
                ) else {
                    continue;
                };
                if !QUANTITIES.contains(&resource.name.as_str()) {
                    continue;
                }
                let usage = known.entry(role).or_default();
                let into = if offered {
                    &mut usage.offered
                } else {
                    &mut usage.allocated
                };
                *into.entry(resource.name.clone()).or_default() += scalar.value;
            }
        }
    }
    // Roles not given a weight weigh 1.
    for (name, usage) in &mut known {
        usage.weight = snapshot
            .weights
            .iter()
            .find(|(role, _)| role == name)
            .map_or(1.0, |(_, weight)| *weight);
    }
    known
}

/// `/master/roles`: `{"roles": [{name, weight, quota, resources, allocated, offered,
/// reserved, frameworks}]}` in Mesos's shape. ratufa has no quota and no dynamic
/// reservations, so `quota` holds the role and empty quantities, and `reserved` is
/// empty.
pub(super) async fn document(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |_, snapshot| roles_json(snapshot)).await
}

fn roles_json(snapshot: &StateSnapshot) -> Value {
    let quantities = |amounts: &BTreeMap<String, f64>| {
        Value::Object(
            amounts
                .iter()
                .map(|(name, amount)| (name.clone(), number(*amount)))
                .collect::<Map<_, _>>(),
        )
    };
    let roles: Vec<Value> = roles(snapshot)
        .into_iter()
        .map(|(name, usage)| {
            json!({
                "name": name,
                "weight": number(usage.weight),
                "quota": {"role": name, "guarantee": {}, "limit": {}, "consumed": {}},
                "resources": quantities(&usage.held()),
                "allocated": quantities(&usage.allocated),
                "offered": quantities(&usage.offered),
                "reserved": {},
                "frameworks": usage.frameworks,
            })
        })
        .collect();
    json!({ "roles": roles })
}
