//! TLS end to end (issue #5, item 6), over the real binary with certificates made at
//! test time (ratufa_gateway::tls::testing; nothing committed): the LIBPROCESS_SSL_* environment turns https on for
//! the master, the agent, the executors they start and every client among them.
//!
//! - `ratufa local` requiring client certificates: a scheduler over https (verifying
//!   the CA, presenting a certificate) launches a task that runs and finishes, so the
//!   agent's link to the master and the executor's to the agent spoke TLS too; plain
//!   HTTP, a client trusting another CA and a client without a certificate all fail;
//! - with LIBPROCESS_SSL_SUPPORT_DOWNGRADE, one port answers https and plain HTTP, and
//!   an agent with TLS joins a master without it;
//! - a missing or garbage certificate: exit 1, stderr naming the variable;
//! - two masters with --zk: the follower's 307 and /master/redirect say `https://`
//!   and the leader's port; an agent following ZooKeeper registers with the leader
//!   over https; a --leader_proxy master forwards to the leader over https.

#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratufa_gateway::tls::testing::TestPki;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};

use cluster::{AgentProcess, Scheduler, command_task, get_json};
use ha::zookeeper::{self, ZooKeeper};
use ha::{await_agents, await_one_leader, state_status, zk_flags};
use support::{
    FAST_HEARTBEAT, Master, PATIENCE, Request, flags_with_heartbeat, fresh_dir, send_over, send_to,
};

/// A CA and a certificate it signed for 127.0.0.1 and localhost (every process of
/// these clusters runs here, and all present it), as PEM files, removed on drop.
struct Pki {
    dir: PathBuf,
    files: TestPki,
}

impl Pki {
    fn new() -> Pki {
        let dir = fresh_dir("tls");
        let files = TestPki::create(&dir);
        Pki { dir, files }
    }

    /// The environment that turns TLS on, plus `extra` (which wins).
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .files
            .env()
            .into_iter()
            .filter(|(k, _)| !extra.iter().any(|(name, _)| name == k))
            .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// A client trusting this CA, presenting this certificate when `present` says so.
    fn client(&self, present: bool) -> Arc<rustls::ClientConfig> {
        client_trusting(&self.files.ca, present.then_some(self))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The tests' own client configuration (rustls, not the gateway's).
fn client_trusting(
    ca: &CertificateDer<'static>,
    present: Option<&Pki>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match present {
        None => builder.with_no_client_auth(),
        Some(pki) => builder
            .with_client_auth_cert(vec![pki.files.cert.clone()], pki.files.key())
            .unwrap(),
    };
    Arc::new(config)
}

fn framework(name: &str) -> Value {
    json!({"user": "root", "name": name})
}

#[tokio::test]
async fn a_local_cluster_over_https_runs_a_task_and_refuses_other_clients() {
    let pki = Pki::new();
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--num_agents=1".into());
    flags.push("--resources=cpus:2;mem:512".into());
    let env = pki.env(&[("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "true")]);
    let master = Master::launch("local", &flags, &env, Some(pki.client(true))).await;

    // The agent registered over TLS (it presented the certificate the master requires),
    // and the executor reaches the agent over TLS: the task runs to its end.
    let mut scheduler = Scheduler::subscribe(&master, &framework("tls")).await;
    let offers = scheduler.offers(&master).await;
    let offer = &offers[0];
    let task = command_task("over-tls", &offer["agent_id"], 0.1, 32.0, "echo hi");
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 0.0)
        .await;
    let finished = scheduler
        .await_state(&master, "over-tls", "TASK_FINISHED")
        .await;
    assert_eq!(finished["source"], "SOURCE_EXECUTOR", "{finished}");
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["activated_slaves"], 1.0, "{state}");

    // Plain HTTP on the same port gets no HTTP answer.
    let plain = send_to(master.addr, Request::get("/health")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that does not trust the CA fails the handshake.
    let stranger = Pki::new();
    let untrusting = client_trusting(&stranger.files.ca, Some(&pki));
    let refused = send_over(master.addr, Some(&untrusting), Request::get("/health")).await;
    let error = refused.unwrap_err();
    assert!(error.contains("TLS handshake"), "{error}");
    // A client that presents no certificate is refused by the master.
    let anonymous = pki.client(false);
    let refused = send_over(master.addr, Some(&anonymous), Request::get("/health")).await;
    assert!(
        refused.is_err(),
        "answered without a client certificate: {refused:?}"
    );
    master.assert_alive().await;
}

#[tokio::test]
async fn with_downgrade_one_port_serves_https_and_plain_http() {
    let pki = Pki::new();
    let env = pki.env(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")]);
    let master = Master::launch(
        "master",
        &support::default_flags(),
        &env,
        Some(pki.client(false)),
    )
    .await;
    let plain = send_to(master.addr, Request::get("/health")).await.unwrap();
    assert_eq!(plain.status, 200, "{plain:?}");
    let state = get_json(&master, "/master/state").await;
    assert!(state["id"].is_string(), "{state}");
}

#[tokio::test]
async fn an_agent_with_downgrade_joins_a_master_without_tls() {
    // A cluster turning TLS on one process at a time: the master is not there yet.
    let master = Master::start_with(&support::default_flags()).await;
    let pki = Pki::new();
    let env = pki.env(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")]);
    let address = master.addr.to_string();
    let agent = AgentProcess::start_with_env(&address, &["--resources=cpus:1;mem:128"], &env);
    await_agents(&master, 1, &agent).await;
    assert!(
        agent.log().contains("downgrading to plain HTTP"),
        "{}",
        agent.log()
    );
}

/// Runs `ratufa <args>` with `env` to its exit (killed after [`PATIENCE`]); returns
/// its exit code and stderr.
fn run_to_exit(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let dir = fresh_dir("tls-exit");
    let stderr_path = dir.join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(args)
        .arg(format!("--work_dir={}", dir.join("work").display()))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ratufa {args:?} was still running after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (status.code(), stderr)
}

#[test]
fn an_unusable_certificate_exits_1_naming_the_variable() {
    let pki = Pki::new();
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = pki.dir.join("missing.pem");
    let cases: [(&str, &Path); 2] = [("missing", &missing), ("garbage", &garbage)];
    for (what, path) in cases {
        let path = path.display().to_string();
        let env = pki.env(&[("LIBPROCESS_SSL_CERT_FILE", &path)]);
        for subcommand in ["master", "agent", "local"] {
            let mut args = vec![subcommand, "--ip=127.0.0.1", "--port=0"];
            if subcommand == "agent" {
                args.push("--master=127.0.0.1:1");
            }
            let (code, stderr) = run_to_exit(&args, &env);
            assert_eq!(code, Some(1), "{subcommand} with a {what} cert: {stderr}");
            assert!(
                stderr.contains("LIBPROCESS_SSL_CERT_FILE") && stderr.contains(&path),
                "{subcommand} with a {what} cert: {stderr}"
            );
        }
    }
    // Enabled without a key at all.
    let env: Vec<(String, String)> = pki
        .env(&[])
        .into_iter()
        .filter(|(k, _)| k != "LIBPROCESS_SSL_KEY_FILE")
        .collect();
    let (code, stderr) = run_to_exit(&["master", "--ip=127.0.0.1", "--port=0"], &env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("LIBPROCESS_SSL_KEY_FILE"), "{stderr}");
}

#[tokio::test]
async fn masters_with_zookeeper_redirect_and_proxy_to_an_https_leader() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let url = zk.url("/mesos");
    let pki = Pki::new();
    let env = pki.env(&[]);
    let flags = zk_flags(&url);
    let first = Master::launch("master", &flags, &env, Some(pki.client(false))).await;
    let second = Master::launch("master", &flags, &env, Some(pki.client(false))).await;
    let masters = [&first, &second];
    let leader = masters[await_one_leader(&masters).await];
    let follower = masters.iter().find(|m| m.port() != leader.port()).unwrap();

    // The follower's answers name the leader by https.
    let leader_base = format!("https://localhost:{}", leader.port());
    let (status, location) = state_status(follower).await;
    assert_eq!(status, 307);
    assert_eq!(
        location.as_deref(),
        Some(format!("{leader_base}/master/state").as_str())
    );
    for master in masters {
        let redirect = master.send(Request::get("/master/redirect")).await;
        assert_eq!(redirect.status, 307, "{redirect:?}");
        assert_eq!(redirect.header("Location"), Some(leader_base.as_str()));
    }

    // An agent following ZooKeeper registers with the leader, over https.
    let agent = AgentProcess::start_with_env(&url, &["--resources=cpus:1;mem:128"], &env);
    await_agents(leader, 1, &agent).await;

    // A third master that proxies: it follows (the others' nodes are older) and
    // serves the leader's state, fetched over https.
    let mut proxy_flags = flags.clone();
    proxy_flags.push("--leader_proxy".into());
    let proxy = Master::launch("master", &proxy_flags, &env, Some(pki.client(false))).await;
    let leader_id = get_json(leader, "/master/state").await["id"].clone();
    let deadline = Instant::now() + ha::SETTLE;
    loop {
        let response = proxy.send(Request::get("/master/state")).await;
        if response.status == 200 {
            let state: Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(state["id"], leader_id, "{state}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the proxying master never served the leader's state: {response:?}\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
