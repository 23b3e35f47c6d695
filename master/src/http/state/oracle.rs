//! The state documents as they were first built, one `serde_json::Value` tree each:
//! kept as the oracle the streamed writer's documents are checked against.

use std::collections::BTreeMap;

use ratufa_proto::v1::{AgentInfo, Attribute, ExecutorInfo, Offer, Resource, Task, TaskStatus};
use serde_json::{Map, Value, json};

use super::{
    Clock, Summary, agent_pid, attribute_summary, epoch_secs, number, resource_summary, state_name,
};
use crate::core::{AgentSnapshot, FrameworkSnapshot, StateSnapshot, Time};
use crate::master_info::VERSION;

fn secs(clock: &Clock, time: Time) -> Value {
    number(clock.epoch_secs(time))
}

pub(super) fn state_json(
    snapshot: &StateSnapshot,
    flags: &[(String, String)],
    started_at: std::time::SystemTime,
) -> Value {
    let clock = Clock::of(snapshot);
    let info = &snapshot.master_info;
    let pid = info.pid.clone().unwrap_or_default();
    // The process started once; this term (its core) began when it was elected.
    let start = number(epoch_secs(started_at));
    let elected = secs(&clock, Time::ZERO);
    let flags: Map<String, Value> = flags
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let active = snapshot.agents.iter().filter(|a| a.active).count();
    json!({
        "version": VERSION,
        "build_date": ratufa_gateway::version::version_info().build_date,
        "build_time": ratufa_gateway::version::version_info().build_time,
        "build_user": ratufa_gateway::version::version_info().build_user,
        "start_time": start,
        "elected_time": elected,
        "id": info.id,
        "pid": pid,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "capabilities": ratufa_proto::json::to_value(info)
            .get("capabilities")
            .and_then(Value::as_array)
            .map(|caps| caps.iter().filter_map(|c| c.get("type").cloned()).collect::<Vec<_>>())
            .unwrap_or_default(),
        "activated_slaves": active as f64,
        "deactivated_slaves": (snapshot.agents.len() - active) as f64,
        "unreachable_slaves": snapshot.unreachable_agents.len() as f64,
        "leader": pid,
        "leader_info": ratufa_proto::json::to_value(info),
        "flags": flags,
        "slaves": snapshot.agents.iter().map(|a| agent_json(a, &clock)).collect::<Vec<_>>(),
        "recovered_slaves": snapshot.recovered_agents.iter().map(recovered_agent_json).collect::<Vec<_>>(),
        "frameworks": snapshot.frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
        "completed_frameworks": snapshot.completed_frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

/// An agent the registry lists that has not re-registered: what its AgentInfo says.
pub(super) fn recovered_agent_json(info: &AgentInfo) -> Value {
    json!({
        "id": info.id.as_ref().map(|id| id.value.clone()).unwrap_or_default(),
        "hostname": info.hostname,
        "port": info.port.unwrap_or(0),
        "attributes": attributes_json(&info.attributes),
        "resources": resources_json(&info.resources),
    })
}

pub(super) fn agent_json(agent: &AgentSnapshot, clock: &Clock) -> Value {
    let info = &agent.info;
    let id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    let mut reserved = Map::new();
    let mut by_role: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
    for resource in agent.total.iter() {
        if let Some(role) = ratufa_proto::resources::reservation_role(resource) {
            by_role
                .entry(role.to_string())
                .or_default()
                .push(resource.clone());
        }
    }
    for (role, resources) in by_role {
        reserved.insert(role, resources_json(&resources));
    }
    let mut out = json!({
        "id": id,
        "hostname": info.hostname,
        "port": info.port.unwrap_or(0),
        "attributes": attributes_json(&info.attributes),
        "pid": agent_pid(agent),
        "registered_time": secs(clock, agent.registered_time),
        "resources": resources_json(agent.total.as_slice()),
        "used_resources": resources_json(agent.used().as_slice()),
        "offered_resources": resources_json(agent.offered.as_slice()),
        "reserved_resources": reserved,
        "unreserved_resources": resources_json(agent.total.unreserved().as_slice()),
        "active": agent.active,
        "deactivated": false,
        "version": agent.version.clone().unwrap_or_default(),
        "capabilities": [],
    });
    if let Some(at) = agent.reregistered_time {
        out["reregistered_time"] = secs(clock, at);
    }
    out
}

pub(super) fn framework_json(framework: &FrameworkSnapshot, clock: &Clock) -> Value {
    let info = &framework.info;
    let id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    let info_json = ratufa_proto::json::to_value(info);
    let capabilities: Vec<Value> = info_json
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|caps| caps.iter().filter_map(|c| c.get("type").cloned()).collect())
        .unwrap_or_default();
    let multi_role = capabilities.iter().any(|c| c == "MULTI_ROLE");
    let used = framework.used_resources();
    let mut total = used.clone();
    total += &framework.offered_resources;
    let mut out = json!({
        "id": id,
        "name": info.name,
        "used_resources": resources_json(used.as_slice()),
        "offered_resources": resources_json(framework.offered_resources.as_slice()),
        "capabilities": capabilities,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "webui_url": info.webui_url.clone().unwrap_or_default(),
        "active": framework.active,
        "connected": framework.connected,
        "recovered": framework.recovered,
        "user": info.user,
        "failover_timeout": info.failover_timeout.unwrap_or(0.0),
        "checkpoint": info.checkpoint.unwrap_or(false),
        "registered_time": secs(clock, framework.registered_time),
        "unregistered_time": framework.unregistered_time.map_or(json!(0.0), |t| secs(clock, t)),
        "resources": resources_json(total.as_slice()),
        "tasks": framework.tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "unreachable_tasks": framework.unreachable_tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "completed_tasks": framework.completed_tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "offers": framework.offers.iter().map(offer_json).collect::<Vec<_>>(),
        "executors": framework
            .executors
            .iter()
            .map(|(agent_id, executor)| executor_json(agent_id, executor))
            .collect::<Vec<_>>(),
    });
    if multi_role {
        out["roles"] = json!(framework.roles);
    } else {
        out["role"] = json!(framework.roles.first().map_or("*", String::as_str));
    }
    if let Some(principal) = &info.principal {
        out["principal"] = json!(principal);
    }
    if let Some(at) = framework.reregistered_time {
        out["reregistered_time"] = secs(clock, at);
    }
    if let Some(labels) = info_json.get("labels") {
        out["labels"] = labels.clone();
    }
    out
}

pub(super) fn task_json(task: &Task) -> Value {
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
        .unwrap_or_default();
    let mut out = json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": task.agent_id.value,
        "state": state_name(task.state),
        "resources": resources_json(&task.resources),
        "role": role,
        "statuses": task.statuses.iter().map(status_json).collect::<Vec<_>>(),
    });
    if let Some(user) = &task.user {
        out["user"] = json!(user);
    }
    let task_json = ratufa_proto::json::to_value(task);
    for key in ["labels", "discovery", "container", "health_check"] {
        if let Some(value) = task_json.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

pub(super) fn status_json(status: &TaskStatus) -> Value {
    let mut out = json!({
        "state": state_name(status.state),
        "timestamp": number(status.timestamp.unwrap_or(0.0)),
    });
    if let Some(healthy) = status.healthy {
        out["healthy"] = json!(healthy);
    }
    let status_json = ratufa_proto::json::to_value(status);
    for key in ["labels", "container_status"] {
        if let Some(value) = status_json.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

pub(super) fn offer_json(offer: &Offer) -> Value {
    json!({
        "id": offer.id.value,
        "framework_id": offer.framework_id.value,
        "allocation_info": offer
            .allocation_info
            .as_ref()
            .map(ratufa_proto::json::to_value)
            .unwrap_or_else(|| json!({})),
        "slave_id": offer.agent_id.value,
        "resources": resources_json(&offer.resources),
    })
}

pub(super) fn executor_json(agent_id: &str, executor: &ExecutorInfo) -> Value {
    let executor_value = ratufa_proto::json::to_value(executor);
    let mut out = json!({
        "executor_id": executor.executor_id.value,
        "name": executor.name.clone().unwrap_or_default(),
        "framework_id": executor.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
        "command": executor_value.get("command").cloned().unwrap_or_else(|| json!({})),
        "resources": resources_json(&executor.resources),
        "slave_id": agent_id,
    });
    if let Some(role) = executor
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
    {
        out["role"] = json!(role);
    }
    out
}

/// A summary as the old documents held it.
fn summary_json(summary: std::collections::BTreeMap<String, Summary>) -> Value {
    Value::Object(
        summary
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    Summary::Number(n) => number(n),
                    Summary::Text(text) => Value::String(text),
                };
                (name, value)
            })
            .collect(),
    )
}

pub(super) fn resources_json(resources: &[Resource]) -> Value {
    summary_json(resource_summary(resources))
}

pub(super) fn attributes_json(attributes: &[Attribute]) -> Value {
    summary_json(attribute_summary(attributes))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, SystemTime};

    use ratufa_proto::ratufa::registry::Registry;
    use ratufa_proto::ratufa::registry::registry::Agent as Admitted;
    use ratufa_proto::v1::{
        AgentId, CheckInfo, CommandInfo, ContainerStatus, DiscoveryInfo, ExecutorId, ExecutorInfo,
        HealthCheck, Label, Labels, TaskId, TaskState, TaskStatus, check_info, discovery_info,
        health_check,
    };

    use super::*;
    use crate::http::state::query::{self, ListQuery};
    use ratufa_proto::ratufa::agentlink;

    use crate::core::tests::*;
    use crate::core::{FrameworkCall, Reply, WallClock};
    use crate::http::state::writer::{self, JsonOut};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels {
            labels: pairs
                .iter()
                .map(|(k, v)| Label {
                    key: k.to_string(),
                    value: Some(v.to_string()),
                })
                .collect(),
        }
    }

    /// A cluster with something in every part of the documents: a recovered agent,
    /// agents with attributes, reservations and ports, one disconnected and one that
    /// re-registered, a multi-role framework with a principal and labels, tasks with
    /// labels, discovery, a health check and statuses (healthy, labels, container
    /// status), a task with its own executor, completed tasks, outstanding offers and
    /// a completed framework.
    pub(crate) fn cluster() -> StateSnapshot {
        let mut registry = Registry::default();
        let mut recovered = agent_info("recovered", "cpus:1;mem:64");
        recovered.id = Some(AgentId {
            value: "earlier-S9".into(),
        });
        recovered.attributes = ratufa_proto::resources::parse_attributes("rack:7").unwrap();
        registry.admitted.push(Admitted { info: recovered });
        let mut h = Harness::recovered(registry);
        h.core
            .set_wall_clock(WallClock::with_origin_at(SystemTime::now()));
        h.advance(Duration::from_millis(1234));

        let mut framework = multi_role(info("first"), &["web", "*"]);
        framework.principal = Some("ops".into());
        framework.labels = Some(labels(&[("team", "a\"b")]));
        framework.failover_timeout = Some(3600.5);
        framework.webui_url = Some("http://ui".into());
        let first = h.subscribed(partition_aware(framework));

        let mut host1 = agent_info(
            "host1",
            "cpus:4;mem:1024;ports:[31000-31009,5-6];disk:10;cpus(prod):1",
        );
        host1.attributes =
            ratufa_proto::resources::parse_attributes("rack:22;zone:us_east;level:[1-5]").unwrap();
        let agent = h.agent("host1", "cpus:1");
        // Re-registers with more (and attributes): a re-registered time, new info.
        let mut again = host1.clone();
        again.id = Some(agent.id.clone());
        let (conn, _) = subscribe_agent(&mut h, again, vec![]);
        let agent = TestAgent { conn, id: agent.id };
        let outputs = h.allocate();
        let offer = offers_on(&outputs, first.conn).remove(0);

        let mut rich = command_task("rich", &agent.id, "cpus:1;mem:128;ports:[31000-31001]");
        rich.labels = Some(labels(&[("k", "v"), ("empty", "")]));
        rich.discovery = Some(DiscoveryInfo {
            visibility: discovery_info::Visibility::Cluster as i32,
            name: Some("rich".into()),
            ..Default::default()
        });
        rich.health_check = Some(HealthCheck {
            r#type: Some(health_check::Type::Command as i32),
            command: Some(CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        rich.check = Some(CheckInfo {
            r#type: Some(check_info::Type::Command as i32),
            command: Some(check_info::Command {
                command: CommandInfo {
                    value: Some("true".into()),
                    ..Default::default()
                },
            }),
            ..Default::default()
        });
        let done = command_task("done", &agent.id, "cpus:0.5;mem:32");
        let mut own = command_task("own", &agent.id, "cpus:0.5;mem:32");
        own.command = None;
        own.executor = Some(ExecutorInfo {
            executor_id: ExecutorId {
                value: "exec".into(),
            },
            name: Some("my executor".into()),
            command: Some(CommandInfo {
                value: Some("./run".into()),
                ..Default::default()
            }),
            resources: ratufa_proto::resources::Resources::parse("cpus:0.1;mem:32", "*")
                .unwrap()
                .into_vec(),
            ..Default::default()
        });
        let call = accept(&[&offer], vec![launch(vec![rich, done, own])]);
        assert_eq!(h.call_on(&first, call), Ok(Reply::Accepted));
        h.outputs();

        let framework_id = first.framework_id();
        let status = |task: &str, state: TaskState, n: u8| agentlink::Call {
            r#type: Some(agentlink::call::Type::StatusUpdate as i32),
            status_update: Some(agentlink::call::StatusUpdate {
                framework_id: framework_id.clone(),
                status: TaskStatus {
                    task_id: TaskId { value: task.into() },
                    state: state as i32,
                    source: Some(ratufa_proto::v1::task_status::Source::Executor as i32),
                    uuid: Some(uuid(n)),
                    timestamp: Some(1_700_000_000.25 + f64::from(n)),
                    healthy: (task == "rich").then_some(true),
                    labels: (task == "rich").then(|| labels(&[("s", "1")])),
                    container_status: (task == "rich").then(|| ContainerStatus {
                        executor_pid: Some(42),
                        ..Default::default()
                    }),
                    ..TaskStatus::default()
                },
                latest_state: None,
            }),
            ..Default::default()
        };
        for (n, (task, state)) in [
            ("rich", TaskState::TaskStarting),
            ("rich", TaskState::TaskRunning),
            ("done", TaskState::TaskRunning),
            ("done", TaskState::TaskFinished),
            ("own", TaskState::TaskRunning),
        ]
        .into_iter()
        .enumerate()
        {
            let n = u8::try_from(n).unwrap() + 1;
            assert_eq!(
                h.agent_call(&agent, status(task, state, n)),
                Ok(Reply::Accepted)
            );
            let ack = FrameworkCall::Acknowledge(ratufa_proto::v1::scheduler::call::Acknowledge {
                agent_id: agent.id.clone(),
                task_id: TaskId { value: task.into() },
                uuid: uuid(n),
            });
            assert_eq!(h.call_on(&first, ack), Ok(Reply::Accepted));
        }
        h.outputs();

        // What is left is offered again; a second agent goes away.
        let second = h.agent("host2", "cpus:2;mem:512;gpus:1");
        h.allocate();
        h.core.handle_agent_stream_closed(h.now, second.conn);
        let _ = h.agent("host3", "cpus:2;mem:512");
        h.allocate();

        // A framework that came and went.
        let gone = h.subscribed(info("gone"));
        let teardown = FrameworkCall::Teardown;
        assert_eq!(h.call_on(&gone, teardown), Ok(Reply::Accepted));
        h.outputs();
        h.advance(Duration::from_millis(500));

        h.core.state_snapshot()
    }

    /// Parsed the same way on both sides (serde_json's float parsing is not exact).
    fn reparsed(value: &Value) -> Value {
        serde_json::from_slice(&serde_json::to_vec(value).unwrap()).unwrap()
    }

    fn written(write: impl FnOnce(&mut JsonOut)) -> Value {
        let mut out = JsonOut::buffered();
        write(&mut out);
        serde_json::from_slice(&out.into_bytes()).expect("the writer writes JSON")
    }

    #[test]
    fn the_streamed_documents_are_the_documents_the_value_builder_made() {
        let snapshot = cluster();
        let flags = vec![
            ("hostname".to_string(), "localhost".to_string()),
            ("quoted".to_string(), "a \"b\"\n".to_string()),
        ];
        let started = SystemTime::now() - Duration::from_secs(10);
        let clock = Clock::of(&snapshot);

        let expected = reparsed(&state_json(&snapshot, &flags, started));
        let got = written(|out| writer::state(out, &snapshot, &flags, started));
        // Non-trivial: every part has something in it.
        for list in [
            "slaves",
            "recovered_slaves",
            "frameworks",
            "completed_frameworks",
        ] {
            assert!(
                !expected[list].as_array().unwrap().is_empty(),
                "{list} is empty: {expected}"
            );
        }
        let first = &expected["frameworks"][0];
        for list in ["tasks", "completed_tasks", "offers", "executors"] {
            assert!(
                !first[list].as_array().unwrap().is_empty(),
                "{list} is empty: {first}"
            );
        }
        assert!(
            first.get("labels").is_some() && first.get("roles").is_some(),
            "{first}"
        );
        assert_eq!(got, expected);

        let expected = reparsed(&json!({
            "frameworks": snapshot.frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
            "completed_frameworks": snapshot.completed_frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
            "unregistered_frameworks": [],
        }));
        assert_eq!(
            written(|out| writer::frameworks_document(out, &snapshot, &ListQuery::default())),
            expected
        );

        let expected = reparsed(&json!({
            "slaves": snapshot.agents.iter().map(|a| agent_json(a, &clock)).collect::<Vec<_>>(),
            "recovered_slaves": snapshot.recovered_agents.iter().map(recovered_agent_json).collect::<Vec<_>>(),
        }));
        assert_eq!(
            written(|out| writer::agents_document(out, &snapshot, &ListQuery::default())),
            expected
        );

        let tasks: Vec<Value> = snapshot
            .frameworks
            .iter()
            .chain(&snapshot.completed_frameworks)
            .flat_map(|f| {
                f.tasks
                    .iter()
                    .chain(&f.unreachable_tasks)
                    .chain(&f.completed_tasks)
                    .map(|t| task_json(&t.task()))
            })
            .collect();
        assert!(tasks.len() <= query::TASK_LIMIT);
        // Newest first by the first status's time, as Mesos lists them; those without
        // a status last.
        let first_time = |task: &Value| task["statuses"][0]["timestamp"].as_f64();
        let mut tasks = tasks;
        tasks.sort_by(|a, b| match (first_time(a), first_time(b)) {
            (Some(a), Some(b)) => b.total_cmp(&a),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let expected = reparsed(&json!({ "tasks": tasks }));
        assert_eq!(
            written(|out| writer::tasks_document(out, &snapshot, &ListQuery::default())),
            expected
        );
    }
}
