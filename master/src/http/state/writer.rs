//! The large state documents (`/master/state`, `/frameworks`, `/slaves`, `/tasks`)
//! written straight from a [`StateSnapshot`] to JSON bytes, in chunks handed to the
//! response as they fill (see [`chunks`](super::super::chunks)): no `serde_json::Value` of the whole document (at 20,000
//! agents and 200,000 tasks that tree alone took seconds and several times the
//! document's size), and the client reads while the rest is written. Embedded protobuf
//! messages (labels, container infos, the leader's MasterInfo…) are spliced in as
//! the JSON mapping encodes them.

use std::collections::{BTreeMap, BTreeSet};

use ratufa_proto::v1::{
    AgentInfo, Attribute, ExecutorInfo, Offer, Resource, Task, TaskState, TaskStatus,
};
use serde_json::Value;

use super::super::chunks::Chunks;
use super::query::ListQuery;
use super::{Clock, Summary, attribute_summary, epoch_secs, resource_summary, state_name};
use crate::core::{AgentSnapshot, FrameworkSnapshot, StateSnapshot, TaskEntry, Time};
use crate::master_info::VERSION;

/// A JSON writer: values are separated by commas as they come, keys written before
/// their value. Chunks go out at element boundaries; once the client is gone, the
/// lists stop early.
pub(super) struct JsonOut {
    out: Chunks,
    /// Whether the next value is the first in its object or array (no comma).
    first: bool,
}

impl JsonOut {
    pub(super) fn new(out: Chunks) -> JsonOut {
        JsonOut { out, first: true }
    }

    /// A writer that keeps everything.
    #[cfg(test)]
    pub(super) fn buffered() -> JsonOut {
        JsonOut::new(Chunks::whole())
    }

    /// What was written and not sent.
    #[cfg(test)]
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.out.into_bytes()
    }

    fn boundary(&mut self) -> bool {
        self.out.boundary()
    }

    /// Sends the rest.
    pub(super) fn finish(self) {
        self.out.finish();
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.buf.push(b',');
        }
        self.first = false;
    }

    fn begin(&mut self, bracket: u8) {
        self.comma();
        self.out.buf.push(bracket);
        self.first = true;
    }

    fn end(&mut self, bracket: u8) {
        self.out.buf.push(bracket);
        self.first = false;
    }

    fn object(&mut self) {
        self.begin(b'{');
    }

    fn end_object(&mut self) {
        self.end(b'}');
    }

    fn array(&mut self) {
        self.begin(b'[');
    }

    fn end_array(&mut self) {
        self.end(b']');
    }

    fn key(&mut self, key: &str) {
        self.comma();
        self.write_str(key);
        self.out.buf.push(b':');
        self.first = true;
    }

    fn write_str(&mut self, value: &str) {
        // Writing to a Vec cannot fail; serde_json escapes as Mesos's JSON needs.
        let _ = serde_json::to_writer(&mut self.out.buf, value);
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.comma();
        self.write_str(value);
    }

    /// A double, as serde_json writes one (`null` when not finite).
    fn f64(&mut self, key: &str, value: f64) {
        self.key(key);
        self.comma();
        let _ = serde_json::to_writer(&mut self.out.buf, &value);
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        self.comma();
        let _ = serde_json::to_writer(&mut self.out.buf, &value);
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.comma();
        self.out
            .buf
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A value already built (small, rare parts of the document).
    fn value(&mut self, key: &str, value: &Value) {
        self.key(key);
        self.comma();
        let _ = serde_json::to_writer(&mut self.out.buf, value);
    }

    /// A protobuf message as Mesos's JSON mapping writes it.
    fn message<M: ratufa_proto::MesosMessage>(&mut self, key: &str, message: &M) {
        self.key(key);
        self.comma();
        self.out
            .buf
            .extend_from_slice(&ratufa_proto::json::encode(message));
    }

    fn empty_array(&mut self, key: &str) {
        self.key(key);
        self.array();
        self.end_array();
    }

    /// `key: [each item]`, stopping early when the client is gone.
    fn list<T>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T),
    ) {
        self.key(key);
        self.array();
        for item in items {
            if !self.boundary() {
                break;
            }
            write(self, item);
        }
        self.end_array();
    }
}

/// `/master/state`, for a master with `flags` whose process started at `started_at`.
pub(super) fn state(
    out: &mut JsonOut,
    snapshot: &StateSnapshot,
    flags: &[(String, String)],
    started_at: std::time::SystemTime,
) {
    let clock = Clock::of(snapshot);
    let info = &snapshot.master_info;
    let pid = info.pid.clone().unwrap_or_default();
    let active = snapshot.agents.iter().filter(|a| a.active).count();
    out.object();
    out.str("version", VERSION);
    // As `/version` says them; `build_time` a double, as in Mesos.
    let build = ratufa_gateway::version::version_info();
    out.str(
        "build_date",
        build.build_date.as_deref().unwrap_or_default(),
    );
    out.f64("build_time", build.build_time.unwrap_or_default());
    out.str(
        "build_user",
        build.build_user.as_deref().unwrap_or_default(),
    );
    // The process started once; this term (its core) began when it was elected.
    out.f64("start_time", epoch_secs(started_at));
    out.f64("elected_time", clock.epoch_secs(Time::ZERO));
    out.str("id", &info.id);
    out.str("pid", &pid);
    out.str("hostname", info.hostname.as_deref().unwrap_or_default());
    let info_json = ratufa_proto::json::to_value(info);
    out.value("capabilities", &Value::Array(capability_types(&info_json)));
    // Counts, written as doubles as Mesos writes them (its gauges are doubles).
    out.f64("activated_slaves", active as f64);
    out.f64(
        "deactivated_slaves",
        (snapshot.agents.len() - active) as f64,
    );
    out.f64(
        "unreachable_slaves",
        snapshot.unreachable_agents.len() as f64,
    );
    out.str("leader", &pid);
    out.value("leader_info", &info_json);
    out.key("flags");
    out.object();
    for (name, value) in flags {
        out.str(name, value);
    }
    out.end_object();
    let everything = ListQuery::default();
    agents(out, snapshot, &clock, &everything);
    frameworks(out, snapshot, &clock, &everything);
    out.empty_array("orphan_tasks");
    out.empty_array("unregistered_frameworks");
    out.end_object();
}

/// `/frameworks`, those `query` selects (`framework_id`).
pub(super) fn frameworks_document(out: &mut JsonOut, snapshot: &StateSnapshot, query: &ListQuery) {
    let clock = Clock::of(snapshot);
    out.object();
    frameworks(out, snapshot, &clock, query);
    out.empty_array("unregistered_frameworks");
    out.end_object();
}

/// `/slaves`, those `query` selects (`slave_id`).
pub(super) fn agents_document(out: &mut JsonOut, snapshot: &StateSnapshot, query: &ListQuery) {
    let clock = Clock::of(snapshot);
    out.object();
    agents(out, snapshot, &clock, query);
    out.end_object();
}

/// `/tasks`: the tasks of every framework, active, unreachable and completed, that
/// `query` selects (`framework_id`, `task_id`), a page of them in its order.
pub(super) fn tasks_document(out: &mut JsonOut, snapshot: &StateSnapshot, query: &ListQuery) {
    out.object();
    let tasks = snapshot
        .frameworks
        .iter()
        .chain(&snapshot.completed_frameworks)
        .filter(|f| query.framework(framework_id(f)))
        .flat_map(|f| {
            f.tasks
                .iter()
                .chain(&f.unreachable_tasks)
                .chain(&f.completed_tasks)
        });
    out.list("tasks", query.page(tasks), task_entry);
    out.end_object();
}

/// The `type`s of a message's `capabilities`, as Mesos lists them.
pub(super) fn capability_types(message_json: &Value) -> Vec<Value> {
    message_json
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|caps| caps.iter().filter_map(|c| c.get("type").cloned()).collect())
        .unwrap_or_default()
}

/// `slaves` and `recovered_slaves`.
fn agents(out: &mut JsonOut, snapshot: &StateSnapshot, clock: &Clock, query: &ListQuery) {
    let listed = snapshot
        .agents
        .iter()
        .filter(|a| query.agent(agent_id(&a.info)));
    out.list("slaves", listed, |out, agent| {
        agent_object(out, agent, clock);
    });
    let recovered = snapshot
        .recovered_agents
        .iter()
        .filter(|info| query.agent(agent_id(info)));
    out.list("recovered_slaves", recovered, recovered_agent);
}

/// `frameworks` and `completed_frameworks`.
fn frameworks(out: &mut JsonOut, snapshot: &StateSnapshot, clock: &Clock, query: &ListQuery) {
    let listed = selected(&snapshot.frameworks, query);
    out.list("frameworks", listed, |out, f| {
        framework(out, f, clock);
    });
    let completed = selected(&snapshot.completed_frameworks, query);
    out.list("completed_frameworks", completed, |out, f| {
        framework(out, f, clock);
    });
}

/// The frameworks of `list` that `query` selects.
fn selected<'a>(
    list: &'a [FrameworkSnapshot],
    query: &ListQuery,
) -> impl Iterator<Item = &'a FrameworkSnapshot> {
    list.iter().filter(|f| query.framework(framework_id(f)))
}

fn agent_id(info: &AgentInfo) -> &str {
    info.id.as_ref().map_or("", |id| id.value.as_str())
}

fn framework_id(framework: &FrameworkSnapshot) -> &str {
    framework
        .info
        .id
        .as_ref()
        .map_or("", |id| id.value.as_str())
}

/// An agent the registry lists that has not re-registered: what its AgentInfo says.
fn recovered_agent(out: &mut JsonOut, info: &AgentInfo) {
    out.object();
    out.str("id", info.id.as_ref().map_or("", |id| id.value.as_str()));
    out.str("hostname", &info.hostname);
    out.int("port", i64::from(info.port.unwrap_or(0)));
    attributes(out, "attributes", &info.attributes);
    resources(out, "resources", &info.resources);
    out.end_object();
}

fn agent_object(out: &mut JsonOut, agent: &AgentSnapshot, clock: &Clock) {
    out.object();
    agent_fields(out, agent, clock);
    out.end_object();
}

/// An agent's fields, as `/master/state` and `/master/state-summary` write them.
fn agent_fields(out: &mut JsonOut, agent: &AgentSnapshot, clock: &Clock) {
    let info = &agent.info;
    out.str("id", info.id.as_ref().map_or("", |id| id.value.as_str()));
    out.str("hostname", &info.hostname);
    out.int("port", i64::from(info.port.unwrap_or(0)));
    attributes(out, "attributes", &info.attributes);
    out.str("pid", &super::agent_pid(agent));
    out.f64("registered_time", clock.epoch_secs(agent.registered_time));
    resources(out, "resources", agent.total.as_slice());
    resources(out, "used_resources", agent.used().as_slice());
    resources(out, "offered_resources", agent.offered.as_slice());
    out.key("reserved_resources");
    out.object();
    let mut by_role: BTreeMap<&str, Vec<Resource>> = BTreeMap::new();
    for resource in agent.total.iter() {
        if let Some(role) = ratufa_proto::resources::reservation_role(resource) {
            by_role.entry(role).or_default().push(resource.clone());
        }
    }
    for (role, reserved) in by_role {
        resources(out, role, &reserved);
    }
    out.end_object();
    resources(
        out,
        "unreserved_resources",
        agent.total.unreserved().as_slice(),
    );
    out.bool("active", agent.active);
    out.bool("deactivated", false);
    out.str("version", agent.version.as_deref().unwrap_or_default());
    out.empty_array("capabilities");
    if let Some(at) = agent.reregistered_time {
        out.f64("reregistered_time", clock.epoch_secs(at));
    }
}

fn framework(out: &mut JsonOut, framework: &FrameworkSnapshot, clock: &Clock) {
    let info = &framework.info;
    let info_json = ratufa_proto::json::to_value(info);
    let capabilities = capability_types(&info_json);
    let multi_role = capabilities.iter().any(|c| c == "MULTI_ROLE");
    let mut total = framework.used_resources();
    total += &framework.offered_resources;
    out.object();
    framework_summary(out, framework, capabilities);
    out.str("user", &info.user);
    out.f64("failover_timeout", info.failover_timeout.unwrap_or(0.0));
    out.bool("checkpoint", info.checkpoint.unwrap_or(false));
    out.f64(
        "registered_time",
        clock.epoch_secs(framework.registered_time),
    );
    // Mesos writes its (zero) time even for a framework that never disconnected.
    let unregistered = framework
        .unregistered_time
        .map_or(0.0, |t| clock.epoch_secs(t));
    out.f64("unregistered_time", unregistered);
    resources(out, "resources", total.as_slice());
    out.list("tasks", &framework.tasks, task_entry);
    out.list(
        "unreachable_tasks",
        &framework.unreachable_tasks,
        task_entry,
    );
    out.list("completed_tasks", &framework.completed_tasks, task_entry);
    out.list("offers", &framework.offers, offer);
    out.list("executors", &framework.executors, |out, (agent_id, e)| {
        executor(out, agent_id, e);
    });
    if multi_role {
        strings(out, "roles", &framework.roles);
    } else {
        out.str("role", framework.roles.first().map_or("*", String::as_str));
    }
    if let Some(principal) = &info.principal {
        out.str("principal", principal);
    }
    if let Some(at) = framework.reregistered_time {
        out.f64("reregistered_time", clock.epoch_secs(at));
    }
    if let Some(labels) = &info.labels {
        out.message("labels", labels);
    }
    out.end_object();
}

/// The fields Mesos writes for a framework everywhere (its `Summary<Framework>`):
/// `/master/state`, `/frameworks` and `/master/state-summary`.
fn framework_summary(out: &mut JsonOut, framework: &FrameworkSnapshot, capabilities: Vec<Value>) {
    let info = &framework.info;
    out.str("id", framework_id(framework));
    out.str("name", &info.name);
    resources(out, "used_resources", framework.used_resources().as_slice());
    resources(
        out,
        "offered_resources",
        framework.offered_resources.as_slice(),
    );
    out.value("capabilities", &Value::Array(capabilities));
    out.str("hostname", info.hostname.as_deref().unwrap_or_default());
    out.str("webui_url", info.webui_url.as_deref().unwrap_or_default());
    out.bool("active", framework.active);
    out.bool("connected", framework.connected);
    out.bool("recovered", framework.recovered);
}

/// `/master/state-summary`: the master's hostname, and each agent and each framework
/// (not the completed ones) with how many of its tasks are in each state and which
/// frameworks run on the agent / which agents the framework's tasks are on, as Mesos
/// writes it. Tasks counted are those `/master/state` lists: active, unreachable and
/// completed.
pub(super) fn state_summary(out: &mut JsonOut, snapshot: &StateSnapshot) {
    let clock = Clock::of(snapshot);
    let mut by_agent: BTreeMap<&str, (TaskCounts, BTreeSet<&str>)> = BTreeMap::new();
    let mut by_framework: BTreeMap<&str, (TaskCounts, BTreeSet<&str>)> = BTreeMap::new();
    for framework in &snapshot.frameworks {
        let id = framework_id(framework);
        let tasks = framework
            .tasks
            .iter()
            .chain(&framework.unreachable_tasks)
            .chain(&framework.completed_tasks);
        for task in tasks {
            let agent = by_agent.entry(task.agent_id()).or_default();
            agent.0.count(task.state());
            agent.1.insert(id);
            let of_framework = by_framework.entry(id).or_default();
            of_framework.0.count(task.state());
            of_framework.1.insert(task.agent_id());
        }
    }
    let none = (TaskCounts::default(), BTreeSet::new());
    out.object();
    out.str(
        "hostname",
        snapshot.master_info.hostname.as_deref().unwrap_or_default(),
    );
    out.list("slaves", &snapshot.agents, |out, agent| {
        let (counts, frameworks) = by_agent.get(agent_id(&agent.info)).unwrap_or(&none);
        out.object();
        agent_fields(out, agent, &clock);
        counts.write(out);
        strings(out, "framework_ids", frameworks);
        out.end_object();
    });
    out.list("frameworks", &snapshot.frameworks, |out, framework| {
        let (counts, agents) = by_framework.get(framework_id(framework)).unwrap_or(&none);
        let info_json = ratufa_proto::json::to_value(&framework.info);
        out.object();
        framework_summary(out, framework, capability_types(&info_json));
        counts.write(out);
        strings(out, "slave_ids", agents);
        out.end_object();
    });
    out.end_object();
}

/// Tasks by state, as `/master/state-summary` counts them.
#[derive(Debug, Default)]
struct TaskCounts(BTreeMap<i32, i64>);

impl TaskCounts {
    /// The states Mesos writes a count of, in its order.
    const WRITTEN: [TaskState; 10] = [
        TaskState::TaskStaging,
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskFinished,
        TaskState::TaskKilled,
        TaskState::TaskFailed,
        TaskState::TaskLost,
        TaskState::TaskError,
        TaskState::TaskUnreachable,
    ];

    fn count(&mut self, state: TaskState) {
        *self.0.entry(state as i32).or_default() += 1;
    }

    fn write(&self, out: &mut JsonOut) {
        for state in Self::WRITTEN {
            let count = self.0.get(&(state as i32)).copied().unwrap_or(0);
            out.int(state.as_str_name(), count);
        }
    }
}

/// `key`: an array of strings.
fn strings(out: &mut JsonOut, key: &str, values: impl IntoIterator<Item = impl AsRef<str>>) {
    out.key(key);
    out.array();
    for value in values {
        out.comma();
        out.write_str(value.as_ref());
    }
    out.end_array();
}

fn task_entry(out: &mut JsonOut, entry: &std::sync::Arc<TaskEntry>) {
    task(out, &entry.task());
}

fn task(out: &mut JsonOut, task: &Task) {
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.as_deref())
        .unwrap_or_default();
    out.object();
    out.str("id", &task.task_id.value);
    out.str("name", &task.name);
    out.str("framework_id", &task.framework_id.value);
    out.str(
        "executor_id",
        task.executor_id.as_ref().map_or("", |e| e.value.as_str()),
    );
    out.str("slave_id", &task.agent_id.value);
    out.str("state", state_name(task.state));
    resources(out, "resources", &task.resources);
    out.str("role", role);
    out.list("statuses", &task.statuses, status);
    if let Some(user) = &task.user {
        out.str("user", user);
    }
    if let Some(labels) = &task.labels {
        out.message("labels", labels);
    }
    if let Some(discovery) = &task.discovery {
        out.message("discovery", discovery);
    }
    if let Some(container) = &task.container {
        out.message("container", container);
    }
    if let Some(health_check) = &task.health_check {
        out.message("health_check", health_check);
    }
    out.end_object();
}

fn status(out: &mut JsonOut, status: &TaskStatus) {
    out.object();
    out.str("state", state_name(status.state));
    out.f64("timestamp", status.timestamp.unwrap_or(0.0));
    if let Some(healthy) = status.healthy {
        out.bool("healthy", healthy);
    }
    if let Some(labels) = &status.labels {
        out.message("labels", labels);
    }
    if let Some(container_status) = &status.container_status {
        out.message("container_status", container_status);
    }
    out.end_object();
}

fn offer(out: &mut JsonOut, offer: &Offer) {
    out.object();
    out.str("id", &offer.id.value);
    out.str("framework_id", &offer.framework_id.value);
    match &offer.allocation_info {
        Some(allocation_info) => out.message("allocation_info", allocation_info),
        None => {
            out.key("allocation_info");
            out.object();
            out.end_object();
        }
    }
    out.str("slave_id", &offer.agent_id.value);
    resources(out, "resources", &offer.resources);
    out.end_object();
}

fn executor(out: &mut JsonOut, agent_id: &str, executor: &ExecutorInfo) {
    out.object();
    out.str("executor_id", &executor.executor_id.value);
    out.str("name", executor.name.as_deref().unwrap_or_default());
    out.str(
        "framework_id",
        executor
            .framework_id
            .as_ref()
            .map_or("", |f| f.value.as_str()),
    );
    match &executor.command {
        Some(command) => out.message("command", command),
        None => {
            out.key("command");
            out.object();
            out.end_object();
        }
    }
    resources(out, "resources", &executor.resources);
    out.str("slave_id", agent_id);
    if let Some(role) = executor
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.as_deref())
    {
        out.str("role", role);
    }
    out.end_object();
}

fn summary(out: &mut JsonOut, key: &str, entries: BTreeMap<String, Summary>) {
    out.key(key);
    out.object();
    for (name, value) in entries {
        match value {
            Summary::Number(n) => out.f64(&name, n),
            Summary::Text(text) => out.str(&name, &text),
        }
    }
    out.end_object();
}

fn resources(out: &mut JsonOut, key: &str, resources: &[Resource]) {
    summary(out, key, resource_summary(resources));
}

fn attributes(out: &mut JsonOut, key: &str, attributes: &[Attribute]) {
    summary(out, key, attribute_summary(attributes));
}
