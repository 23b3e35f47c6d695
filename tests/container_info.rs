//! End to end against the real binary: what the agent does with a ContainerInfo
//! (docs/COMPATIBILITY.md). It runs Mesos's containerizer with no image provider, so
//! a plain `type: MESOS` runs like no ContainerInfo at all, and every ContainerInfo
//! asking for more (a DOCKER container, an image, volumes, a terminal, a network, a
//! hostname) fails its tasks with the field named, without running anything: each
//! refused task's command would leave a file behind, and none does. The master answers
//! what Mesos's master refuses itself (a DOCKER container without its DockerInfo) with
//! TASK_ERROR.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use serde_json::{Value, json};

use agent::{Agent, resources, scratch, states_of, terminal_states};
use cluster::{Scheduler, command_task};
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat};

/// A command task that leaves `marker` behind if it ever runs.
fn marking_task(id: &str, agent_id: &Value, marker: &std::path::Path) -> Value {
    command_task(
        id,
        agent_id,
        0.1,
        32.0,
        &format!("touch {}", marker.display()),
    )
}

#[tokio::test]
async fn only_a_plain_mesos_container_runs_and_the_rest_is_refused_naming_the_field() {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048;disk:1024"]).await;
    let info = json!({"user": "root", "name": "containers"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let markers = scratch("container-markers");
    let marker = |id: &str| markers.join(id);

    let mut plain = marking_task("plain", &agent_id, &marker("plain"));
    plain["container"] =
        json!({"type": "MESOS", "mesos": {}, "linux_info": {"share_cgroups": true}});

    let mut docker = marking_task("docker", &agent_id, &marker("docker"));
    docker["container"] = json!({"type": "DOCKER", "docker": {"image": "alpine"}});
    let mut image = marking_task("image", &agent_id, &marker("image"));
    image["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": "alpine"}}},
    });
    let mut volumes = marking_task("volumes", &agent_id, &marker("volumes"));
    volumes["container"] = json!({
        "type": "MESOS",
        "volumes": [{"container_path": "data", "host_path": "/tmp", "mode": "RW"}],
    });
    let mut tty = marking_task("tty", &agent_id, &marker("tty"));
    tty["container"] = json!({"type": "MESOS", "tty_info": {}});
    // A custom executor's own ContainerInfo: the executor never starts.
    let mut custom = marking_task("custom", &agent_id, &marker("custom-task"));
    custom.as_object_mut().unwrap().remove("command");
    custom["executor"] = json!({
        "type": "CUSTOM",
        "executor_id": {"value": "networked"},
        "command": {"value": format!("touch {}", marker("custom").display())},
        "resources": resources(0.1, 32.0),
        "container": {"type": "MESOS", "network_infos": [{"name": "overlay"}]},
    });
    // Refused by the master, as Mesos's: DOCKER without its DockerInfo.
    let mut bare_docker = marking_task("bare-docker", &agent_id, &marker("bare-docker"));
    bare_docker["container"] = json!({"type": "DOCKER"});

    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![plain, docker, image, volumes, tty, custom, bare_docker],
            3600.0,
        )
        .await;
    let ids = [
        "plain",
        "docker",
        "image",
        "volumes",
        "tty",
        "custom",
        "bare-docker",
    ];
    let done = terminal_states(&master, &mut scheduler, &ids, &mut Vec::new()).await;

    assert_eq!(done["plain"]["state"], "TASK_FINISHED", "{}", done["plain"]);
    assert!(marker("plain").exists(), "the plain MESOS task ran");

    let refused = [
        (
            "docker",
            "REASON_EXECUTOR_TERMINATED",
            "TaskInfo.container.type DOCKER is not supported",
        ),
        (
            "image",
            "REASON_CONTAINER_LAUNCH_FAILED",
            "TaskInfo.container.mesos.image is not supported",
        ),
        (
            "volumes",
            "REASON_CONTAINER_LAUNCH_FAILED",
            "TaskInfo.container.volumes is not supported",
        ),
        (
            "tty",
            "REASON_CONTAINER_LAUNCH_FAILED",
            "TaskInfo.container.tty_info is not supported",
        ),
        (
            "custom",
            "REASON_CONTAINER_LAUNCH_FAILED",
            "ExecutorInfo.container.network_infos is not supported",
        ),
    ];
    for (id, reason, field) in refused {
        let status = &done[id];
        assert_eq!(status["state"], "TASK_FAILED", "{status}");
        assert_eq!(status["reason"], reason, "{status}");
        assert_eq!(status["source"], "SOURCE_AGENT", "{status}");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{id}: {message}");
        assert_eq!(
            states_of(&scheduler, id),
            ["TASK_FAILED"],
            "{id} never started"
        );
    }
    let status = &done["bare-docker"];
    assert_eq!(status["state"], "TASK_ERROR", "{status}");
    assert_eq!(status["source"], "SOURCE_MASTER", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set"),
        "{status}"
    );

    let mut ran: Vec<String> = std::fs::read_dir(&markers)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ran.sort();
    assert_eq!(ran, ["plain"], "only the plain task ran anything");
    agent.assert_alive().await;
    master.assert_alive().await;
}

/// A task group whose one task asks for a hostname: the whole group fails (its tasks
/// run together or not at all), each saying whose ContainerInfo it was.
#[tokio::test]
async fn a_group_with_one_unsupported_container_fails_whole() {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048;disk:1024"]).await;
    let info = json!({"user": "root", "name": "group-containers"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let markers = scratch("group-container-markers");
    let alpha = marking_task("alpha", &agent_id, &markers.join("alpha"));
    let mut beta = marking_task("beta", &agent_id, &markers.join("beta"));
    beta["container"] = json!({"type": "MESOS", "hostname": "beta.example"});
    let mut executor = scheduler.default_executor("group");
    executor["container"] = json!({"type": "MESOS"});
    scheduler
        .launch_group(
            &master,
            &[&offer["id"]],
            executor,
            vec![alpha, beta],
            3600.0,
        )
        .await;
    let done = terminal_states(&master, &mut scheduler, &["alpha", "beta"], &mut Vec::new()).await;
    for id in ["alpha", "beta"] {
        let status = &done[id];
        assert_eq!(status["state"], "TASK_FAILED", "{status}");
        assert_eq!(
            status["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{status}"
        );
        let message = status["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("TaskInfo.container.hostname is not supported")
                && message.contains("(task 'beta')"),
            "{id}: {message}"
        );
    }
    assert_eq!(std::fs::read_dir(&markers).unwrap().count(), 0);
    agent.assert_alive().await;
}
