#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use prost::Message as _;
use ratufa_proto::Encoding;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::agent::{Call, call};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState};

use super::{metrics, validate, views};
use crate::AgentConfig;
use crate::files::{Sandboxes, test_status as status};

/// An agent `S0` with cpus:2;mem:1024 and framework `F` running `t1` (RUNNING) and
/// `t2` (FINISHED, its executor ended), and framework `G` whose only executor ended.
fn book() -> crate::files::Book {
    let config = AgentConfig {
        resources: Some("cpus:2;mem:1024".to_string()),
        ..AgentConfig::new("http://127.0.0.1:5050", "/tmp/w")
    };
    let info = ratufa_proto::v1::AgentInfo {
        hostname: "h".to_string(),
        port: Some(5051),
        resources: Resources::parse("cpus:2;mem:1024", "*").unwrap().into_vec(),
        ..Default::default()
    };
    let sandboxes = Sandboxes::new(config, info);
    sandboxes.set_agent_id("S0");
    let framework = |id: &str| FrameworkInfo {
        id: Some(FrameworkId { value: id.into() }),
        name: format!("fw {id}"),
        user: "u".into(),
        ..Default::default()
    };
    let task = |id: &str| TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        resources: Resources::parse("cpus:0.5;mem:128", "*")
            .unwrap()
            .into_vec(),
        ..Default::default()
    };
    let dir = Path::new("/tmp/w/slaves/S0/frameworks");
    for (fw, t, state) in [
        ("F", "t1", TaskState::TaskRunning),
        ("F", "t2", TaskState::TaskFinished),
        ("G", "g1", TaskState::TaskFailed),
    ] {
        let directory = dir.join(fw).join("executors").join(t).join("runs/c");
        sandboxes.attach(&framework(fw), t, &format!("c-{t}"), &directory, &task(t));
        sandboxes.task_status(fw, t, &task(t), &status(state));
    }
    let mut book = sandboxes.snapshot();
    // Whichever way the agent completes executors, t2's and g1's have ended.
    for (fw, t) in [("F", "t2"), ("G", "g1")] {
        let runs = book.frameworks.get_mut(fw).unwrap();
        if let Some(run) = runs.executors.remove(t) {
            runs.completed.push_back(run);
        }
    }
    book
}

#[test]
fn tasks_are_split_by_where_their_executor_is() {
    let tasks = views::tasks(&book());
    let ids = |list: &[ratufa_proto::v1::Task]| -> Vec<String> {
        list.iter().map(|t| t.task_id.value.clone()).collect()
    };
    assert_eq!(ids(&tasks.launched_tasks), ["t1"]);
    assert!(tasks.terminated_tasks.is_empty());
    let mut completed = ids(&tasks.completed_tasks);
    completed.sort();
    assert_eq!(completed, ["g1", "t2"]);
    let t1 = &tasks.launched_tasks[0];
    assert_eq!(t1.framework_id.value, "F");
    assert_eq!(t1.agent_id.value, "S0");
    assert_eq!(t1.state, TaskState::TaskRunning as i32);
    assert_eq!(t1.executor_id.as_ref().unwrap().value, "t1");
}

#[test]
fn frameworks_without_live_executors_are_completed() {
    let frameworks = views::frameworks(&book());
    let names = |list: &[ratufa_proto::v1::agent::response::get_frameworks::Framework]| {
        list.iter()
            .map(|f| f.framework_info.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&frameworks.frameworks), ["fw F"]);
    assert_eq!(names(&frameworks.completed_frameworks), ["fw G"]);
}

#[test]
#[allow(deprecated)] // ExecutorInfo.source
fn command_tasks_get_the_command_executor_info() {
    let executors = views::executors(&book());
    assert_eq!(executors.executors.len(), 1);
    assert_eq!(executors.completed_executors.len(), 2);
    let info = &executors.executors[0].executor_info;
    assert_eq!(info.executor_id.value, "t1");
    assert_eq!(info.framework_id.as_ref().unwrap().value, "F");
    assert_eq!(info.name.as_deref(), Some("Command Executor (Task: t1)"));
    assert_eq!(info.source.as_deref(), Some("t1"));
}

#[test]
fn state_holds_tasks_executors_and_frameworks() {
    let state = views::state(&book());
    assert_eq!(state.get_tasks.unwrap().launched_tasks.len(), 1);
    assert_eq!(state.get_executors.unwrap().executors.len(), 1);
    assert_eq!(state.get_frameworks.unwrap().frameworks.len(), 1);
}

#[test]
fn flags_are_those_of_the_flags_endpoint() {
    let book = book();
    let flags = views::flags(&book);
    let work_dir = flags.flags.iter().find(|f| f.name == "work_dir").unwrap();
    assert_eq!(work_dir.value.as_deref(), Some("/tmp/w"));
    let expected = crate::http::state::flags_json(&book);
    assert_eq!(flags.flags.len(), expected.as_object().unwrap().len());
}

#[test]
fn metrics_count_live_tasks_and_used_resources() {
    let started = SystemTime::now() - Duration::from_secs(5);
    let metrics = metrics::metrics(&book(), started);
    let value = |name: &str| {
        metrics
            .metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.value)
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    assert_eq!(value("slave/registered"), 1.0);
    assert_eq!(value("slave/tasks_running"), 1.0);
    assert_eq!(value("slave/tasks_staging"), 0.0);
    assert_eq!(value("slave/executors_running"), 1.0);
    assert_eq!(value("slave/frameworks_active"), 1.0);
    assert_eq!(value("slave/cpus_total"), 2.0);
    assert_eq!(value("slave/cpus_used"), 0.5);
    assert_eq!(value("slave/cpus_percent"), 0.25);
    assert_eq!(value("slave/mem_used"), 128.0);
    assert!(value("slave/uptime_secs") >= 5.0);
}

fn json_call(body: &str) -> Result<call::Type, u16> {
    let call: Call = Encoding::Json.decode(body.as_bytes()).unwrap();
    validate(&call, Encoding::Json, body.as_bytes()).map_err(|e| {
        let response = axum::response::IntoResponse::into_response(e);
        response.status().as_u16()
    })
}

#[test]
fn calls_are_validated_as_mesos_does() {
    assert_eq!(
        json_call(r#"{"type":"GET_HEALTH"}"#),
        Ok(call::Type::GetHealth)
    );
    assert_eq!(
        json_call(r#"{"type":"GET_METRICS","get_metrics":{}}"#),
        Ok(call::Type::GetMetrics)
    );
    assert_eq!(json_call(r#"{"type":"GET_METRICS"}"#), Err(400));
    assert_eq!(json_call(r#"{}"#), Err(400));
    assert_eq!(json_call(r#"{"type":"GET_EVERYTHING"}"#), Err(400));
    // A protobuf call with no type (or one we do not know, dropped on decoding).
    let bytes = prost::Message::encode_to_vec(&Call::default());
    let call = Call::decode(bytes.as_slice()).unwrap();
    assert!(validate(&call, Encoding::Protobuf, &bytes).is_err());
}

#[test]
fn an_unknown_type_is_named_in_the_error() {
    let body = r#"{"type":"GET_EVERYTHING"}"#;
    let call: Call = Encoding::Json.decode(body.as_bytes()).unwrap();
    let error = validate(&call, Encoding::Json, body.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("GET_EVERYTHING"), "{error}");
    let error = validate(&Call::default(), Encoding::Json, b"{}").unwrap_err();
    assert!(
        error.to_string().contains("Expecting 'type' to be present"),
        "{error}"
    );
}

#[test]
fn an_executor_with_several_tasks_shows_them_all_under_its_own_info() {
    let config = AgentConfig::new("http://127.0.0.1:5050", "/tmp/w");
    let sandboxes = Sandboxes::new(config, ratufa_proto::v1::AgentInfo::default());
    sandboxes.set_agent_id("S0");
    let framework = FrameworkInfo {
        id: Some(FrameworkId { value: "F".into() }),
        name: "fw".into(),
        user: "u".into(),
        ..Default::default()
    };
    let executor = ratufa_proto::v1::ExecutorInfo {
        executor_id: ratufa_proto::v1::ExecutorId { value: "E".into() },
        r#type: Some(ratufa_proto::v1::executor_info::Type::Custom as i32),
        name: Some("custom".into()),
        ..Default::default()
    };
    let task = |id: &str| TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        ..Default::default()
    };
    let directory = Path::new("/tmp/w/slaves/S0/frameworks/F/executors/E/runs/c");
    sandboxes.attach(&framework, "E", "c", directory, &task("a"));
    sandboxes.executor_info("F", "E", &executor);
    sandboxes.task_status("F", "E", &task("a"), &status(TaskState::TaskRunning));
    sandboxes.task_status("F", "E", &task("b"), &status(TaskState::TaskFinished));
    let book = sandboxes.snapshot();

    let tasks = views::tasks(&book);
    assert_eq!(tasks.launched_tasks.len(), 1);
    assert_eq!(tasks.launched_tasks[0].task_id.value, "a");
    assert_eq!(tasks.terminated_tasks.len(), 1);
    assert_eq!(tasks.terminated_tasks[0].task_id.value, "b");
    for task in tasks.launched_tasks.iter().chain(&tasks.terminated_tasks) {
        assert_eq!(task.executor_id.as_ref().unwrap().value, "E");
    }
    let executors = views::executors(&book);
    let info = &executors.executors[0].executor_info;
    assert_eq!(info.name.as_deref(), Some("custom"));
    assert_eq!(info.framework_id.as_ref().unwrap().value, "F");
    // The run's own state stays that of the task it was started for.
    assert_eq!(
        book.frameworks["F"].executors["E"].state,
        TaskState::TaskRunning
    );
}
