//! Several masters elect a leader through a real ZooKeeper (issue #5): the znodes are
//! Mesos's `json.info_<seq>` with MasterInfo JSON, exactly one master leads, the others
//! redirect to it with an absolute Location, a leader killed with SIGKILL is replaced
//! within the session timeout, a leader that loses ZooKeeper stops serving, ZooKeeper
//! missing at start is waited for, and a candidate with garbage data is skipped.

#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
mod support;

use std::time::{Duration, Instant};

use ratufa_zk::{CreateMode, Session};
use serde_json::Value;

use cluster::AgentProcess;
use ha::zookeeper::{self, ZooKeeper};
use ha::{
    SETTLE, await_agents, await_one_leader, await_state_status, elect_masters, state_status,
    zk_flags,
};
use support::{Master, Request, default_flags};

/// The candidates' znodes under `path` as (name, raw data), lowest sequence first.
/// Other nodes there (the registry, which the leader writes as its term starts) are
/// left out, as kazoo-based detectors leave them out by the `json.info_` prefix.
async fn candidates(session: &impl Session, path: &str) -> Vec<(String, Vec<u8>)> {
    let (mut children, _) = session.get_children_watch(path).await.unwrap();
    children.retain(|name| name.starts_with("json.info_"));
    children.sort();
    let mut nodes = Vec::new();
    for child in children {
        let (data, _) = session.get_data(&format!("{path}/{child}")).await.unwrap();
        nodes.push((child, data));
    }
    nodes
}

#[tokio::test]
async fn three_masters_elect_one_leader_and_fail_over_when_it_is_killed() {
    if !zookeeper::require() {
        return;
    }
    let (zk, _, masters, leader) = elect_masters(ZooKeeper::ensemble(3), 3, &[]).await;
    let mut masters: Vec<Option<Master>> = masters.into_iter().map(Some).collect();
    let all: Vec<&Master> = masters.iter().flatten().collect();
    let leader_port = all[leader].port();

    // The znodes, read as kazoo (pymesos's detector) reads them: raw bytes of JSON.
    let session = zk.session().await;
    let nodes = candidates(&session, "/mesos").await;
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let mut ports = Vec::new();
    for (name, data) in &nodes {
        let digits = name.strip_prefix("json.info_").unwrap();
        assert!(
            digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
        let info: Value = serde_json::from_slice(data).unwrap();
        let port = info["port"].as_u64().unwrap();
        assert_eq!(
            info["ip"], 16_777_343,
            "127.0.0.1 in network byte order: {info}"
        );
        assert_eq!(info["pid"], format!("master@127.0.0.1:{port}"));
        assert_eq!(info["hostname"], "localhost");
        assert_eq!(info["address"]["ip"], "127.0.0.1");
        assert_eq!(info["address"]["hostname"], "localhost");
        assert_eq!(info["address"]["port"], port);
        assert!(
            info["version"].as_str().unwrap().starts_with("1."),
            "{info}"
        );
        assert!(!info["id"].as_str().unwrap().is_empty());
        assert!(
            info["capabilities"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
        ports.push(port);
    }
    // The lowest sequence leads.
    assert_eq!(ports[0], u64::from(leader_port), "{nodes:?}");

    // Every leader-only route redirects from a follower, with an absolute Location;
    // /master/redirect points at the leader's base; /health answers everywhere.
    for (i, master) in all.iter().enumerate() {
        let health = master.send(Request::get("/health")).await;
        assert_eq!(health.status, 200);
        let redirect = master.send(Request::get("/master/redirect")).await;
        assert_eq!(redirect.status, 307, "{redirect:?}");
        assert_eq!(
            redirect.header("Location"),
            Some(format!("http://localhost:{leader_port}").as_str())
        );
        if i == leader {
            continue;
        }
        let call = master
            .send(
                Request::post("/api/v1/scheduler")
                    .header("Content-Type", "application/json")
                    .body(r#"{"type":"SUBSCRIBE"}"#),
            )
            .await;
        assert_eq!(call.status, 307, "{call:?}");
        assert_eq!(
            call.header("Location"),
            Some(format!("http://localhost:{leader_port}/api/v1/scheduler").as_str())
        );
        // The operator API is the leader's too.
        let operator = master
            .send(
                Request::post("/master/api/v1")
                    .header("Content-Type", "application/json")
                    .body(r#"{"type":"GET_HEALTH"}"#),
            )
            .await;
        assert_eq!(operator.status, 307, "{operator:?}");
        assert_eq!(
            operator.header("Location"),
            Some(format!("http://localhost:{leader_port}/master/api/v1").as_str())
        );
    }
    drop(all);

    // SIGKILL the leader: its node lives until its session times out, then the next
    // lowest leads.
    masters[leader].take();
    let rest: Vec<&Master> = masters.iter().flatten().collect();
    let new_leader = await_one_leader(&rest).await;
    let nodes = candidates(&session, "/mesos").await;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let info: Value = serde_json::from_slice(&nodes[0].1).unwrap();
    assert_eq!(info["port"], rest[new_leader].port());
    for master in rest {
        master.assert_alive().await;
    }
}

#[tokio::test]
async fn a_leader_that_loses_zookeeper_stops_serving_and_leads_again_when_it_is_back() {
    if !zookeeper::require() {
        return;
    }
    let mut zk = ZooKeeper::standalone();
    let master = Master::start_with(&zk_flags(&zk.url("/mesos"))).await;
    await_state_status(&master, 200).await;

    zk.stop();
    await_state_status(&master, 503).await;
    let response = master.send(Request::get("/master/state")).await;
    assert!(response.header("Retry-After").is_some(), "{response:?}");
    let redirect = master.send(Request::get("/master/redirect")).await;
    assert_eq!(redirect.status, 503);
    master.assert_alive().await;

    zk.start();
    await_state_status(&master, 200).await;
    master.assert_alive().await;
}

#[tokio::test]
async fn zookeeper_unreachable_at_start_is_retried_until_it_appears() {
    if !zookeeper::require() {
        return;
    }
    let mut zk = ZooKeeper::configure(1);
    let master = Master::start_with(&zk_flags(&zk.url("/mesos"))).await;
    // Up and answering, but leading nobody.
    let deadline = Instant::now() + SETTLE;
    while !master.log().contains("ZooKeeper is unreachable; retrying") {
        assert!(
            Instant::now() < deadline,
            "no retry logged:\n{}",
            master.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state_status(&master).await.0, 503);

    zk.start();
    await_state_status(&master, 200).await;
    master.assert_alive().await;
}

#[tokio::test]
async fn a_candidate_with_garbage_data_is_skipped() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let session = zk.session().await;
    ratufa_zk::session::ensure_path(&session, "/mesos")
        .await
        .unwrap();
    let planted = session
        .create(
            "/mesos/json.info_",
            b"\x00not a MasterInfo{",
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    session
        .create("/mesos/log_replicas", b"", CreateMode::Persistent)
        .await
        .unwrap();

    let master = Master::start_with(&zk_flags(&zk.url("/mesos"))).await;
    await_state_status(&master, 200).await;
    let nodes = candidates(&session, "/mesos").await;
    assert_eq!(nodes[0].0, planted.rsplit('/').next().unwrap());
    assert!(
        master.log().contains("skipping a candidate"),
        "{}",
        master.log()
    );
}

#[tokio::test]
async fn an_agent_given_zk_registers_with_the_leader_and_follows_it_after_failover() {
    if !zookeeper::require() {
        return;
    }
    let (_zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 2, &[]).await;
    let mut masters: Vec<Option<Master>> = masters.into_iter().map(Some).collect();

    let agent = AgentProcess::start_for(&url, &[]);
    let first = await_agents(masters[leader].as_ref().unwrap(), 1, &agent).await;

    masters[leader].take();
    let survivor = masters.iter().flatten().next().unwrap();
    await_state_status(survivor, 200).await;
    let again = await_agents(survivor, 1, &agent).await;
    // Re-registered under the id the first leader gave it, not registered anew.
    assert_eq!(again, first, "{}", agent.log());
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}

#[tokio::test]
async fn a_second_master_on_the_same_work_dir_is_refused() {
    let first = Master::start_with(&default_flags()).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(["master", "--ip=127.0.0.1", "--port=0"])
        .arg(format!(
            "--work_dir={}",
            first.work_dir.join("work").display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another master is using this directory"),
        "{stderr}"
    );
    first.assert_alive().await;

    // The same with --zk: the registry is in ZooKeeper then, but the work_dir is still
    // one master's.
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let ha = Master::start_with(&zk_flags(&zk.url("/mesos"))).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(["master", "--ip=127.0.0.1", "--port=0"])
        .arg(format!("--zk={}", zk.url("/mesos")))
        .arg(format!("--work_dir={}", ha.work_dir.join("work").display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another master is using this directory"),
        "{stderr}"
    );
    ha.assert_alive().await;
}

#[test]
fn a_malformed_zk_url_exits_1_naming_the_fault() {
    for (url, fault) in [
        ("zk://127.0.0.1/mesos", "has no port"),
        ("zk://127.0.0.1:2181", "path is missing"),
        ("http://127.0.0.1:2181/mesos", "must start with zk://"),
        ("zk://jo:secret@127.0.0.1:99999/mesos", "not 1-65535"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(["master", "--ip=127.0.0.1", "--port=0"])
            .arg(format!("--zk={url}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("--zk") && stderr.contains(fault),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
    }
    // An agent's --master takes the same URLs.
    let work_dir = support::fresh_dir("agent-bad-zk");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(["agent", "--ip=127.0.0.1", "--port=0"])
        .arg(format!("--work_dir={}", work_dir.display()))
        .arg("--master=zk://jo:secret@127.0.0.1/mesos")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no port"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn the_registry_in_real_zookeeper_holds_more_than_a_znode_and_refuses_a_stale_write() {
    use ratufa_master::registry::{RegistryStore, ZkStore};
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let a = ZkStore::new(std::sync::Arc::new(zk.session().await), "/mesos/registry");
    let b = ZkStore::new(std::sync::Arc::new(zk.session().await), "/mesos/registry");
    // Three times ZooKeeper's default 1 MB node limit.
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let v1 = a.store(big.clone(), None).await.unwrap();
    let read = b.fetch().await.unwrap().unwrap();
    assert_eq!(read.version, v1);
    assert!(read.data == big, "the registry came back different");
    let v2 = b.store(b"smaller".to_vec(), Some(v1)).await.unwrap();
    assert!(matches!(
        a.store(b"stale".to_vec(), Some(v1)).await,
        Err(ratufa_master::MasterError::RegistryConflict { .. })
    ));
    let read = a.fetch().await.unwrap().unwrap();
    assert_eq!((read.data.as_slice(), read.version), (&b"smaller"[..], v2));
    // The registry's node is no candidate in the election under the same path.
    let session = zk.session().await;
    let (children, _) = session.get_children_watch("/mesos").await.unwrap();
    assert!(
        ratufa_zk::election::candidates(&children).is_empty(),
        "{children:?}"
    );
}

#[tokio::test]
async fn with_leader_proxy_a_follower_serves_calls_and_streams_from_the_leader() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let mut flags = zk_flags(&zk.url("/mesos"));
    flags.push("--leader_proxy".into());
    let masters = [
        Master::start_with(&flags).await,
        Master::start_with(&flags).await,
    ];
    // /master/redirect still answers 307 (as Mesos): it names the leader.
    let deadline = Instant::now() + SETTLE;
    let leader = loop {
        let redirect = masters[0].send(Request::get("/master/redirect")).await;
        let location = redirect.header("Location").unwrap_or_default().to_string();
        if let Some(i) =
            (0..2).find(|i| location == format!("http://localhost:{}", masters[*i].port()))
        {
            break i;
        }
        assert!(Instant::now() < deadline, "no leader: {redirect:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let [first, second] = masters;
    let (leading, follower) = if leader == 0 {
        (first, second)
    } else {
        (second, first)
    };
    let follower = &follower;
    let leader_port = leading.port();

    // A read-only route, answered by the leader through the follower (once the
    // follower, too, knows who leads).
    await_state_status(follower, 200).await;
    let state = follower.send(Request::get("/master/state")).await;
    assert_eq!(state.status, 200, "{state:?}");
    let state: Value = serde_json::from_slice(&state.body).unwrap();
    assert_eq!(state["pid"], format!("master@127.0.0.1:{leader_port}"));
    // So is the operator API.
    let operator = follower
        .send(
            Request::post("/api/v1")
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(r#"{"type":"GET_MASTER"}"#),
        )
        .await;
    assert_eq!(operator.status, 200, "{operator:?}");
    let operator: Value = serde_json::from_slice(&operator.body).unwrap();
    assert_eq!(
        operator["get_master"]["master_info"]["port"],
        u64::from(leader_port),
        "{operator}"
    );

    // A subscription through the follower: the stream, its Mesos-Stream-Id, and calls
    // on it all pass through.
    let framework = support::Framework::subscribe(
        follower,
        &serde_json::json!({
            "user": "root",
            "name": "proxied",
        }),
    )
    .await;
    let reconcile = framework
        .call(
            follower,
            &serde_json::json!({
                "type": "RECONCILE",
                "framework_id": {"value": framework.id},
                "reconcile": {"tasks": []},
            }),
        )
        .await;
    assert_eq!(reconcile.status, 202, "{reconcile:?}");
    let on_leader = leading.send(Request::get("/master/frameworks")).await;
    assert!(on_leader.text().contains(&framework.id), "{on_leader:?}");

    // The leader goes: the proxied stream is closed, not left hanging.
    let mut stream = framework.stream;
    drop(leading);
    let deadline = Instant::now() + SETTLE;
    while let Err(support::StreamEnd::TimedOut) | Ok(_) =
        stream.next_record_within(Duration::from_secs(1)).await
    {
        assert!(Instant::now() < deadline, "the proxied stream stayed open");
    }
    // The follower leads now and serves by itself.
    await_state_status(follower, 200).await;
}

/// `ratufa resolve ARG` as a child process: (exit code, stdout, stderr).
async fn resolve(arg: String) -> (Option<i32>, String, String) {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(["resolve", "--timeout=20secs", &arg])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn resolve_prints_the_leaders_address_as_mesos_resolve_does() {
    if !zookeeper::require() {
        return;
    }
    let (zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 2, &[]).await;
    let leader = masters[leader].port();

    let (code, stdout, stderr) = resolve(url.clone()).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), format!("127.0.0.1:{leader}"));

    // file:// holding the URL, as scripts keep it in /etc/mesos/zk.
    let dir = support::fresh_dir("resolve-file");
    let file = dir.join("zk");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let (code, stdout, stderr) = resolve(format!("file://{}", file.display())).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), format!("127.0.0.1:{leader}"));

    // A path where no master contends: no leader within the timeout, exit 1.
    let output = tokio::task::spawn_blocking({
        let empty = zk.url("/nobody");
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
                .args(["resolve", "--timeout=2secs", &empty])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no leading master"), "{stderr}");
    assert!(output.stdout.is_empty());

    // Bad input names the argument at fault.
    for (arg, fault) in [
        ("nonsense", "neither a zk:// URL nor an ip:port"),
        ("zk://127.0.0.1/mesos", "has no port"),
        ("file:///nonexistent/zk", "cannot read the file"),
    ] {
        let (code, _, stderr) = resolve(arg.to_string()).await;
        assert_eq!(code, Some(1), "{arg}: {stderr}");
        assert!(
            stderr.contains("<master>") && stderr.contains(fault),
            "{arg}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
