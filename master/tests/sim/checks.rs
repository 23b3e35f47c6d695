//! What must hold after every step, checked from the simulation's own records (what
//! frameworks were told, what agents run) as well as the core's.

use std::collections::{BTreeMap, BTreeSet};

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::value::Type as ValueType;

use super::agent::is_terminal;
use super::framework::Phase;
use super::world::{Inbound, World};

/// Scalars per name, and every range piece per name, of some resources.
#[derive(Default)]
struct Usage {
    scalars: BTreeMap<String, f64>,
    ranges: BTreeMap<String, Vec<(u64, u64, String)>>,
}

impl Usage {
    fn add(&mut self, resources: &Resources, holder: &str) {
        for r in resources.iter() {
            match ValueType::try_from(r.r#type) {
                Ok(ValueType::Scalar) => {
                    *self.scalars.entry(r.name.clone()).or_default() +=
                        r.scalar.as_ref().map_or(0.0, |s| s.value);
                }
                Ok(ValueType::Ranges) => {
                    let pieces = self.ranges.entry(r.name.clone()).or_default();
                    for range in r.ranges.iter().flat_map(|rs| rs.range.iter()) {
                        pieces.push((range.begin, range.end, holder.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
}

impl World {
    pub fn check(&self) -> Result<(), String> {
        self.core
            .debug_check_invariants()
            .map_err(|e| format!("core invariant: {e}"))?;
        self.check_offers_agree()?;
        self.check_agent_capacity()?;
        self.check_tasks_run_once()
    }

    /// The offers frameworks hold are exactly the core's outstanding offers: none
    /// forgotten without a RESCIND, none the framework was never told of.
    fn check_offers_agree(&self) -> Result<(), String> {
        let mut held: BTreeMap<&str, &str> = BTreeMap::new();
        for fw in &self.frameworks {
            for id in fw.offers.keys() {
                if fw.phase != Phase::Connected {
                    return Err(format!("{} holds offer {id} while {:?}", fw.name, fw.phase));
                }
                let Some(entry) = self.core.offer(id) else {
                    return Err(format!(
                        "{} holds offer {id}, which the master no longer has",
                        fw.name
                    ));
                };
                if entry.framework_id() != fw.id_str() {
                    return Err(format!(
                        "{} holds offer {id} made to {}",
                        fw.name,
                        entry.framework_id()
                    ));
                }
                held.insert(id, fw.id_str());
            }
        }
        for entry in self.core.offers() {
            let id = entry.offer().id.value.as_str();
            if !held.contains_key(id) {
                return Err(format!(
                    "master has offer {id} to {}, which the framework does not hold",
                    entry.framework_id()
                ));
            }
        }
        Ok(())
    }

    /// Per agent, what frameworks hold in offers plus what the agent runs fits in the
    /// agent, with no port given to two holders.
    fn check_agent_capacity(&self) -> Result<(), String> {
        let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
        for fw in &self.frameworks {
            for offer in fw.offers.values() {
                let resources = Resources::try_from_vec(offer.resources.clone()).map_err(|e| {
                    format!("offer {} holds invalid resources: {e}", offer.id.value)
                })?;
                usage.entry(offer.agent_id.value.clone()).or_default().add(
                    &resources.unallocated(),
                    &format!("offer {}", offer.id.value),
                );
            }
        }
        for agent in self.agents.iter().filter(|a| a.id.is_some()) {
            // Tasks of frameworks the master removed, or is shutting down on this agent,
            // were given back already; the agent stops them when it reads the command.
            let shutting_down = self.pending_shutdowns(agent.conn);
            for ((framework_id, task_id), task) in &agent.tasks {
                if is_terminal(task.state)
                    || shutting_down.contains(framework_id.as_str())
                    || self.core.completed_frameworks().contains(framework_id)
                {
                    continue;
                }
                let resources = Resources::try_from_vec(task.info.resources.clone())
                    .map_err(|e| format!("task {task_id} holds invalid resources: {e}"))?;
                usage
                    .entry(agent.id_str().to_string())
                    .or_default()
                    .add(&resources.unallocated(), &format!("task {task_id}"));
            }
        }
        for (agent_id, usage) in &usage {
            let Some(agent) = self.agent_of.get(agent_id).map(|i| &self.agents[*i]) else {
                return Err(format!(
                    "offers of agent {agent_id}, which no simulated agent is"
                ));
            };
            let total = agent.total();
            for (name, used) in &usage.scalars {
                let has = total.scalar(name);
                if *used > has + 1e-9 {
                    return Err(format!(
                        "{} ({agent_id}): {used} {name} offered or in use, it has {has}",
                        agent.hostname
                    ));
                }
            }
            for (name, pieces) in &usage.ranges {
                let mut pieces = pieces.clone();
                pieces.sort();
                for pair in pieces.windows(2) {
                    if pair[1].0 <= pair[0].1 {
                        return Err(format!(
                            "{} ({agent_id}): {name} {}-{} held by both {} and {}",
                            agent.hostname, pair[1].0, pair[0].1, pair[0].2, pair[1].2
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Frameworks a SHUTDOWN_FRAMEWORK not yet read on `conn` names.
    fn pending_shutdowns(&self, conn: Option<ratufa_master::core::ConnectionId>) -> BTreeSet<&str> {
        conn.and_then(|c| self.inbox.get(&c))
            .into_iter()
            .flatten()
            .filter_map(|item| match item {
                Inbound::Command(command) => command
                    .shutdown_framework
                    .as_ref()
                    .map(|s| s.framework_id.value.as_str()),
                Inbound::Close => None,
            })
            .collect()
    }

    /// No task is live on two agents.
    fn check_tasks_run_once(&self) -> Result<(), String> {
        let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for agent in &self.agents {
            for ((framework_id, task_id), task) in &agent.tasks {
                if is_terminal(task.state) {
                    continue;
                }
                if !seen.insert((framework_id, task_id)) {
                    return Err(format!(
                        "task {task_id} of {framework_id} runs on two agents"
                    ));
                }
            }
        }
        Ok(())
    }
}
