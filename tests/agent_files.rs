//! End to end over real sockets against the real binary: the agent's `/state` and
//! `/files/*` (issue #4's "`/files/read` serves stdout and refuses escapes").
//!
//! A task on `ratufa local --agent_port=<port>` echoes a known line and plants two
//! symbolic links out of its sandbox. Its sandbox is found as a Mesos user finds it —
//! the agent's `/state`, the executor's `directory` — and `/files/read` serves its
//! stdout, under the host path and under the virtual `/frameworks/…/runs/latest`;
//! `/files/browse` lists the sandbox and `/files/download` returns the bytes.
//! `..`, `/etc/passwd` and the links out are refused with 403, a missing `path` with
//! 400, a missing file with 404, and the agent keeps serving.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::{Value, json};

use agent::{encode, state_executor};
use cluster::{Scheduler, command_task};
use support::{Request, Response, send_to, start_local_with_agent};

const LINE: &str = "ratufa-files-e2e: the line the task wrote";

async fn get(agent: SocketAddr, path: &str) -> Response {
    send_to(agent, Request::get(path)).await.unwrap()
}

async fn get_json(agent: SocketAddr, path: &str) -> Value {
    let response = get(agent, path).await;
    assert_eq!(response.status, 200, "{path}: {response:?}");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn a_task_sandbox_is_served_and_escapes_are_refused() {
    let (master, agent_port) = start_local_with_agent(&[]).await;
    let agent = SocketAddr::from((Ipv4Addr::LOCALHOST, agent_port));

    let info = json!({"user": "root", "name": "files"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let command = format!(
        "echo '{LINE}'; ln -s /etc/passwd passwd-link; ln -s /etc etc-link; ln -s .. up-link"
    );
    let task = command_task("echo", &offer["agent_id"], 0.1, 32.0, &command);
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 0.0)
        .await;
    scheduler
        .await_state(&master, "echo", "TASK_FINISHED")
        .await;

    // From the agent's /state to the sandbox, as a Mesos user goes.
    let state = get_json(agent, "/state").await;
    let agent_id = offer["agent_id"]["value"].as_str().unwrap();
    assert_eq!(state["id"], agent_id, "{state}");
    assert!(
        state["pid"].as_str().unwrap().starts_with("slave(1)@"),
        "{state}"
    );
    assert_eq!(state["resources"]["cpus"], 2.0, "{state}");
    let executor = state_executor(&state, scheduler.id(), "echo")
        .unwrap_or_else(|| panic!("no executor echo in /state: {state}"));
    let directory = executor["directory"].as_str().unwrap().to_string();
    assert!(
        directory.contains(&format!(
            "/slaves/{agent_id}/frameworks/{}/executors/echo/runs/",
            scheduler.id()
        )),
        "{directory}"
    );
    assert_eq!(
        executor["completed_tasks"][0]["state"], "TASK_FINISHED",
        "{executor}"
    );
    // The aliases answer the same.
    for alias in ["/state.json", "/slave(1)/state"] {
        assert_eq!(get_json(agent, alias).await["id"], agent_id, "{alias}");
    }

    // stdout through the host path and through the virtual path.
    let expected = format!("{LINE}\n");
    let stdout = format!("{directory}/stdout");
    let read = get_json(
        agent,
        &format!("/files/read?path={}&offset=0", encode(&stdout)),
    )
    .await;
    assert_eq!(read["offset"], 0, "{read}");
    assert_eq!(read["data"], expected.as_str(), "{read}");
    let latest = format!("/frameworks/{}/executors/echo/runs/latest", scheduler.id());
    let read = get_json(
        agent,
        &format!("/files/read?path={}/stdout&offset=0", encode(&latest)),
    )
    .await;
    assert_eq!(read["data"], expected.as_str(), "{read}");
    // offset=-1 gives the size; an offset and length give a slice.
    let size = get_json(
        agent,
        &format!("/files/read?path={}&offset=-1", encode(&stdout)),
    )
    .await;
    assert_eq!(size, json!({"offset": expected.len(), "data": ""}));
    let slice = get_json(
        agent,
        &format!("/files/read?path={}&offset=7&length=5", encode(&stdout)),
    )
    .await;
    assert_eq!(slice, json!({"offset": 7, "data": &LINE[7..12]}));

    // The listing of the sandbox.
    let listing = get_json(agent, &format!("/files/browse?path={}", encode(&latest))).await;
    let entries = listing.as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for name in ["stdout", "stderr", "passwd-link"] {
        assert!(
            names.contains(&format!("{latest}/{name}").as_str()),
            "{name} not in {listing}"
        );
    }
    let stdout_entry = entries
        .iter()
        .find(|e| e["path"] == format!("{latest}/stdout"))
        .unwrap();
    assert_eq!(stdout_entry["size"], expected.len(), "{stdout_entry}");
    assert!(
        stdout_entry["mode"].as_str().unwrap().starts_with("-rw"),
        "{stdout_entry}"
    );
    for key in ["nlink", "mtime", "uid", "gid"] {
        assert!(
            !stdout_entry[key].is_null(),
            "{key} missing: {stdout_entry}"
        );
    }

    // The bytes, as an attachment.
    let download = get(agent, &format!("/files/download?path={}", encode(&stdout))).await;
    assert_eq!(download.status, 200, "{download:?}");
    assert_eq!(download.text(), expected);
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=stdout")
    );
    assert_eq!(
        download.header("content-type"),
        Some("application/octet-stream")
    );

    // Escapes: `..`, a host path outside the sandboxes, links out of the sandbox.
    let forbidden = [
        "../../etc/passwd".to_string(),
        "/etc/passwd".to_string(),
        format!("{latest}/../../../../../etc/passwd"),
        format!("{directory}/../../../../../../../../etc/passwd"),
        format!("{latest}/passwd-link"),
        format!("{latest}/etc-link/passwd"),
        format!("{latest}/up-link"),
        format!("{directory}/passwd-link"),
    ];
    for path in &forbidden {
        for endpoint in ["read", "browse", "download"] {
            let response = get(agent, &format!("/files/{endpoint}?path={}", encode(path))).await;
            assert_eq!(response.status, 403, "{endpoint} {path}: {response:?}");
            assert!(
                !response.text().contains("root:"),
                "{endpoint} {path} leaked: {response:?}"
            );
        }
    }

    // Missing path, missing file, directory reads.
    assert_eq!(get(agent, "/files/read").await.status, 400);
    assert_eq!(get(agent, "/files/browse").await.status, 400);
    assert_eq!(get(agent, "/files/download").await.status, 400);
    let missing = get(
        agent,
        &format!("/files/read?path={}/nope&offset=0", encode(&latest)),
    )
    .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    let dir_read = get(
        agent,
        &format!("/files/read?path={}&offset=0", encode(&latest)),
    )
    .await;
    assert_eq!(dir_read.status, 400, "{dir_read:?}");

    // It keeps serving.
    assert_eq!(get(agent, "/health").await.status, 200);
    master.assert_alive().await;
}
