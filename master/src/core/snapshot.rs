//! A copy of the master's state for endpoints (`/master/state`, `/metrics/snapshot`),
//! taken between inputs so that serving it never holds the core up.

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{
    AgentInfo, ExecutorInfo, FrameworkInfo, MasterInfo, Offer, TaskState, TimeInfo,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use super::agent::ExecutorEntry;
use super::task::TaskEntry;
use super::{MasterCore, Time, WallClock};

/// Counters since the master started, named after Mesos's metrics where Mesos has
/// one (`master/<field>`); see [`StateSnapshot::metrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_error: u64,
    pub tasks_dropped: u64,
    pub tasks_gone: u64,
    pub tasks_gone_by_operator: u64,
    /// Offers sent in OFFERS events (ratufa's; Mesos has no such metric).
    pub offers_sent: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub slave_registrations: u64,
    pub slave_reregistrations: u64,
    pub slave_removals: u64,
    pub slave_removals_reason_unhealthy: u64,
    pub slave_removals_reason_registered: u64,
    pub slave_unreachable_completed: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub valid_status_update_acknowledgements: u64,
    pub invalid_status_update_acknowledgements: u64,
    pub valid_framework_to_executor_messages: u64,
    pub invalid_framework_to_executor_messages: u64,
    pub valid_executor_to_framework_messages: u64,
    pub invalid_executor_to_framework_messages: u64,
    pub messages_register_slave: u64,
    pub messages_reregister_slave: u64,
    pub messages_launch_tasks: u64,
    pub messages_decline_offers: u64,
    pub messages_revive_offers: u64,
    pub messages_suppress_offers: u64,
    pub messages_kill_task: u64,
    pub messages_reconcile_tasks: u64,
    pub messages_resource_request: u64,
    pub messages_status_update: u64,
    pub messages_status_update_acknowledgement: u64,
    pub messages_exited_executor: u64,
    pub messages_framework_to_executor: u64,
    pub messages_executor_to_framework: u64,
}

/// One framework as endpoints show it.
#[derive(Debug, Clone)]
pub struct FrameworkSnapshot {
    pub info: FrameworkInfo,
    pub active: bool,
    pub connected: bool,
    /// Learned from an agent after a master failover, not subscribed since.
    pub recovered: bool,
    pub roles: Vec<String>,
    pub registered_time: Time,
    pub reregistered_time: Option<Time>,
    pub unregistered_time: Option<Time>,
    /// Tasks not yet removed (terminal ones until acknowledged), in task id order:
    /// the core's own records, shared (a snapshot costs the core a pointer per task;
    /// [`TaskEntry::task`] builds the `Task` off the core's task).
    pub tasks: Vec<Arc<TaskEntry>>,
    pub unreachable_tasks: Vec<Arc<TaskEntry>>,
    pub completed_tasks: Vec<Arc<TaskEntry>>,
    pub offers: Vec<Offer>,
    /// (agent id, executor).
    pub executors: Vec<(String, ExecutorInfo)>,
    /// Held by tasks and executors (allocated form), as each agent counts it (the
    /// core's own, shared); see [`FrameworkSnapshot::used_resources`].
    pub used_on_agents: Vec<Arc<Resources>>,
    pub offered_resources: Resources,
}

impl FrameworkSnapshot {
    /// Held by tasks and executors (allocated form), all agents together.
    pub fn used_resources(&self) -> Resources {
        let mut used = Resources::new();
        for resources in &self.used_on_agents {
            used += resources;
        }
        used
    }
}

/// One registered agent as endpoints show it.
#[derive(Debug, Clone)]
pub struct AgentSnapshot {
    /// The core's own, shared (as is `total`).
    pub info: Arc<AgentInfo>,
    pub connected: bool,
    /// Offered from: connected (deactivation by operators comes later).
    pub active: bool,
    pub version: Option<String>,
    /// The IP address the agent said it is reached at (the host of its pid).
    pub ip: Option<String>,
    pub registered_time: Time,
    pub reregistered_time: Option<Time>,
    pub total: Arc<Resources>,
    /// Held by tasks and executors, per framework (allocated form; the core's own,
    /// shared); see [`AgentSnapshot::used`].
    pub used_by: Vec<(Arc<str>, Arc<Resources>)>,
    pub offered: Resources,
}

impl AgentSnapshot {
    /// Held by tasks and executors, all frameworks together, unallocated form.
    pub fn used(&self) -> Resources {
        let mut used = Resources::new();
        for (_, resources) in &self.used_by {
            used += resources;
        }
        used.unallocated()
    }
}

/// Everything `/master/state` and `/metrics/snapshot` need, copied.
#[derive(Debug, Clone)]
pub struct StateSnapshot {
    pub master_info: MasterInfo,
    pub frameworks: Vec<FrameworkSnapshot>,
    pub completed_frameworks: Vec<FrameworkSnapshot>,
    pub agents: Vec<AgentSnapshot>,
    /// (agent id, when it was marked unreachable, on the wall clock).
    pub unreachable_agents: Vec<(String, TimeInfo)>,
    /// (agent id, when an operator marked it gone, on the wall clock).
    pub gone_agents: Vec<(String, TimeInfo)>,
    /// Where the core's `Time` origin is on the wall clock, for the `Time`s here.
    pub wall_clock: WallClock,
    /// Role weights set by `--weights` or UPDATE_WEIGHTS, by role.
    pub weights: Vec<(String, f64)>,
    /// `--roles`, when set (with `*`).
    pub role_whitelist: Option<Vec<String>>,
    /// Agents the registry admitted that have not re-registered with this master.
    pub recovered_agents: Vec<AgentInfo>,
    pub counters: Counters,
}

impl StateSnapshot {
    /// `/metrics/snapshot`'s `master/*` entries: the counters and the gauges derived
    /// from the state, under Mesos's names (plus `master/offers_*`, ratufa's).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        let mut put = |name: &str, value: f64| out.push((format!("master/{name}"), value));

        let frameworks = &self.frameworks;
        let count = |pred: &dyn Fn(&FrameworkSnapshot) -> bool| {
            frameworks.iter().filter(|f| pred(f)).count() as f64
        };
        put("frameworks_active", count(&|f| f.active));
        put("frameworks_inactive", count(&|f| !f.active));
        put("frameworks_connected", count(&|f| f.connected));
        put("frameworks_disconnected", count(&|f| !f.connected));

        let agents = &self.agents;
        put(
            "slaves_active",
            agents.iter().filter(|a| a.active).count() as f64,
        );
        put(
            "slaves_inactive",
            agents.iter().filter(|a| !a.active).count() as f64,
        );
        put(
            "slaves_connected",
            agents.iter().filter(|a| a.connected).count() as f64,
        );
        put(
            "slaves_disconnected",
            agents.iter().filter(|a| !a.connected).count() as f64,
        );
        put("slaves_unreachable", self.unreachable_agents.len() as f64);

        let mut by_state = std::collections::BTreeMap::<i32, u64>::new();
        for task in frameworks.iter().flat_map(|f| &f.tasks) {
            *by_state.entry(task.state() as i32).or_default() += 1;
        }
        let unreachable: usize = frameworks.iter().map(|f| f.unreachable_tasks.len()).sum();
        let gauge = |state: TaskState| by_state.get(&(state as i32)).copied().unwrap_or(0) as f64;
        put("tasks_staging", gauge(TaskState::TaskStaging));
        put("tasks_starting", gauge(TaskState::TaskStarting));
        put("tasks_running", gauge(TaskState::TaskRunning));
        put("tasks_killing", gauge(TaskState::TaskKilling));
        put("tasks_unreachable", unreachable as f64);

        let c = &self.counters;
        for (name, value) in [
            ("tasks_finished", c.tasks_finished),
            ("tasks_failed", c.tasks_failed),
            ("tasks_killed", c.tasks_killed),
            ("tasks_lost", c.tasks_lost),
            ("tasks_error", c.tasks_error),
            ("tasks_dropped", c.tasks_dropped),
            ("tasks_gone", c.tasks_gone),
            ("tasks_gone_by_operator", c.tasks_gone_by_operator),
            ("offers_sent", c.offers_sent),
            ("offers_accepted", c.offers_accepted),
            ("offers_declined", c.offers_declined),
            ("offers_rescinded", c.offers_rescinded),
            ("slave_registrations", c.slave_registrations),
            ("slave_reregistrations", c.slave_reregistrations),
            ("slave_removals", c.slave_removals),
            (
                "slave_removals/reason_unhealthy",
                c.slave_removals_reason_unhealthy,
            ),
            (
                "slave_removals/reason_registered",
                c.slave_removals_reason_registered,
            ),
            ("slave_unreachable_completed", c.slave_unreachable_completed),
            ("valid_status_updates", c.valid_status_updates),
            ("invalid_status_updates", c.invalid_status_updates),
            (
                "valid_status_update_acknowledgements",
                c.valid_status_update_acknowledgements,
            ),
            (
                "invalid_status_update_acknowledgements",
                c.invalid_status_update_acknowledgements,
            ),
            (
                "valid_framework_to_executor_messages",
                c.valid_framework_to_executor_messages,
            ),
            (
                "invalid_framework_to_executor_messages",
                c.invalid_framework_to_executor_messages,
            ),
            (
                "valid_executor_to_framework_messages",
                c.valid_executor_to_framework_messages,
            ),
            (
                "invalid_executor_to_framework_messages",
                c.invalid_executor_to_framework_messages,
            ),
            ("messages_register_slave", c.messages_register_slave),
            ("messages_reregister_slave", c.messages_reregister_slave),
            ("messages_launch_tasks", c.messages_launch_tasks),
            ("messages_decline_offers", c.messages_decline_offers),
            ("messages_revive_offers", c.messages_revive_offers),
            ("messages_suppress_offers", c.messages_suppress_offers),
            ("messages_kill_task", c.messages_kill_task),
            ("messages_reconcile_tasks", c.messages_reconcile_tasks),
            ("messages_resource_request", c.messages_resource_request),
            ("messages_status_update", c.messages_status_update),
            (
                "messages_status_update_acknowledgement",
                c.messages_status_update_acknowledgement,
            ),
            ("messages_exited_executor", c.messages_exited_executor),
            (
                "messages_framework_to_executor",
                c.messages_framework_to_executor,
            ),
            (
                "messages_executor_to_framework",
                c.messages_executor_to_framework,
            ),
        ] {
            put(name, value as f64);
        }

        let outstanding: usize = frameworks.iter().map(|f| f.offers.len()).sum();
        put("outstanding_offers", outstanding as f64);

        let mut total = Resources::new();
        let mut used = Resources::new();
        for agent in agents {
            total += &agent.total;
            used += &agent.used();
        }
        for (name, t, u) in [
            ("cpus", total.cpus(), used.cpus()),
            ("mem", total.mem(), used.mem()),
            ("disk", total.disk(), used.disk()),
            ("gpus", total.gpus(), used.gpus()),
        ] {
            put(&format!("{name}_total"), t);
            put(&format!("{name}_used"), u);
            put(
                &format!("{name}_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            );
        }
        out
    }
}

/// A framework's executors and the resources it holds, gathered from the agents.
#[derive(Default)]
struct OnAgents<'a> {
    executors: Vec<(&'a str, &'a ExecutorEntry)>,
    used: Vec<Arc<Resources>>,
}

impl MasterCore {
    /// A copy of the state for endpoints, taken per request by the driver. Active
    /// tasks are shared with the core, not copied: the core's cost is a pointer per
    /// task, and building their JSON happens on the endpoint's side.
    pub fn state_snapshot(&self) -> StateSnapshot {
        // One pass over agents for every framework's executors and used resources,
        // rather than one per framework.
        let mut on_agents: BTreeMap<&str, OnAgents<'_>> = BTreeMap::new();
        for agent in self.agents.values() {
            for ((framework_id, _), executor) in &agent.executors {
                on_agents
                    .entry(framework_id.as_str())
                    .or_default()
                    .executors
                    .push((agent.id(), executor));
            }
            for (framework_id, used) in &agent.used {
                on_agents
                    .entry(framework_id)
                    .or_default()
                    .used
                    .push(used.clone());
            }
        }
        let frameworks = self
            .frameworks
            .values()
            .map(|f| self.framework_snapshot(f, on_agents.get(f.id())))
            .collect();
        let completed_frameworks = self
            .completed
            .iter()
            .map(|f| self.framework_snapshot(f, None))
            .collect();
        let agents = self
            .agents
            .values()
            .map(|a| self.agent_snapshot(a))
            .collect();
        StateSnapshot {
            master_info: self.config.master_info.clone(),
            frameworks,
            completed_frameworks,
            agents,
            unreachable_agents: self
                .unreachable_agents
                .iter()
                .map(|(id, at)| (id.clone(), *at))
                .collect(),
            gone_agents: self
                .gone_agents
                .iter()
                .map(|(id, at)| (id.clone(), *at))
                .collect(),
            wall_clock: self.clock,
            weights: self.weights.iter().map(|(r, w)| (r.clone(), *w)).collect(),
            role_whitelist: self
                .config
                .role_whitelist
                .as_ref()
                .map(|roles| roles.iter().cloned().collect()),
            recovered_agents: self.recovered_agents().cloned().collect(),
            counters: self.counters.clone(),
        }
    }

    /// One registered agent as endpoints show it.
    pub(super) fn agent_snapshot(&self, a: &super::Agent) -> AgentSnapshot {
        let mut offered = Resources::new();
        for id in &a.offers {
            if let Some(o) = self.offers.get(id) {
                offered += &o.resources.unallocated();
            }
        }
        AgentSnapshot {
            info: a.info.clone(),
            connected: a.is_connected(),
            active: a.is_connected(),
            version: a.version.clone(),
            ip: a.ip.clone(),
            registered_time: a.registered_time,
            reregistered_time: a.reregistered_time,
            total: a.total.clone(),
            used_by: a.used.clone(),
            offered,
        }
    }

    /// One framework the master holds as endpoints show it, gathered from every
    /// agent (a pass over the agents: for single events, not whole snapshots).
    pub(super) fn one_framework_snapshot(&self, id: &str) -> Option<FrameworkSnapshot> {
        let framework = self.frameworks.get(id)?;
        let mut on_agents = OnAgents::default();
        for agent in self.agents.values() {
            for ((framework_id, _), executor) in &agent.executors {
                if framework_id.as_str() == id {
                    on_agents.executors.push((agent.id(), executor));
                }
            }
            for (framework_id, used) in &agent.used {
                if &**framework_id == id {
                    on_agents.used.push(used.clone());
                }
            }
        }
        Some(self.framework_snapshot(framework, Some(&on_agents)))
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn framework_snapshot(
        &self,
        f: &super::Framework,
        on_agents: Option<&OnAgents<'_>>,
    ) -> FrameworkSnapshot {
        let id = f.id();
        let books = self.tasks.get(id);
        let tasks: Vec<Arc<TaskEntry>> = books
            .map(|b| b.active_shared().cloned().collect())
            .unwrap_or_default();
        // What agents count as held by the framework's tasks (not yet terminal) and
        // executors; the invariants check that they agree with the books.
        let mut used = Vec::new();
        let mut executors = Vec::new();
        if let Some(on_agents) = on_agents {
            used = on_agents.used.clone();
            for (agent_id, executor) in &on_agents.executors {
                executors.push((agent_id.to_string(), executor.info.clone()));
            }
        }
        let mut offers = Vec::new();
        let mut offered = Resources::new();
        for offer_id in &f.offers {
            if let Some(o) = self.offers.get(offer_id) {
                offers.push(o.offer.clone());
                offered += &o.resources;
            }
        }
        let unregistered_time = match f.connection {
            super::Connection::Disconnected { since, .. } => Some(since),
            super::Connection::Removed { at } => Some(at),
            _ => None,
        };
        FrameworkSnapshot {
            info: f.info.clone(),
            active: f.active,
            connected: f.is_connected(),
            recovered: matches!(f.connection, super::Connection::Unconnected),
            roles: f.roles.iter().cloned().collect(),
            registered_time: f.registered_time,
            reregistered_time: f.reregistered_time,
            unregistered_time,
            tasks,
            unreachable_tasks: books
                .map(|b| b.unreachable().cloned().collect())
                .unwrap_or_default(),
            completed_tasks: books
                .map(|b| b.completed().cloned().collect())
                .unwrap_or_default(),
            offers,
            executors,
            used_on_agents: used,
            offered_resources: offered,
        }
    }
}
