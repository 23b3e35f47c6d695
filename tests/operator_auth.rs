//! End to end against the real binary: HTTP basic authentication of the operator
//! endpoints (`--authenticate_http_readonly`, `--authenticate_http_readwrite`), on
//! `ratufa master`, `ratufa agent` and `ratufa local`, in Mesos's realms.
//!
//! - each flag guards its own endpoints only: without credentials 401 with
//!   `WWW-Authenticate: Basic realm="mesos-{master,agent}-read{only,write}"` and a body
//!   naming what is missing; a wrong secret 401; the right one 200; `/health` and
//!   `/version` stay open;
//! - a flag on without credentials stops the daemon (exit 1) naming the flag;
//! - `ratufa local` guards the master and its agents with the one credentials file;
//! - a follower authenticates before it redirects, and `--leader_proxy` forwards the
//!   credentials for the leader to check again.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
#[path = "support/operator.rs"]
mod operator;
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use agent::Agent;
use ha::zookeeper::{self, ZooKeeper};
use ha::{SETTLE, await_state_status, zk_flags};
use operator::api_request;
use support::{
    JSON, Master, Request, Response, basic_auth, default_flags, fresh_dir, start_local_with_agent,
};

const PRINCIPAL: &str = "ops";
const SECRET: &str = "hunter2";

/// A credentials file (the text form) holding `ops hunter2` and one other principal.
fn credentials_file() -> PathBuf {
    let path = fresh_dir("credentials").join("credentials");
    std::fs::write(&path, format!("{PRINCIPAL} {SECRET}\nreader r3ad\n")).unwrap();
    path
}

/// How a request presents itself.
#[derive(Clone, Copy, Debug)]
enum As {
    Nobody,
    WrongSecret,
    Operator,
}

fn with(request: Request, who: As) -> Request {
    match who {
        As::Nobody => request,
        As::WrongSecret => request.header("Authorization", &basic_auth(PRINCIPAL, "hunter3")),
        As::Operator => request.header("Authorization", &basic_auth(PRINCIPAL, SECRET)),
    }
}

/// An operator API call in JSON to `path`.
fn operator_call(path: &str, call: Value) -> Request {
    api_request(path, JSON, JSON, call.to_string())
}

fn get_health_call() -> Request {
    operator_call("/api/v1", json!({"type": "GET_HEALTH"}))
}

/// A 401 in `realm` whose body names the fault `needle`.
fn assert_refused(response: &Response, realm: &str, needle: &str, what: &str) {
    assert_eq!(response.status, 401, "{what}: {response:?}");
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{realm}\"").as_str()),
        "{what}: {response:?}"
    );
    assert!(
        response.text().contains(needle),
        "{what}: the body does not say {needle:?}: {response:?}"
    );
}

/// `request` is refused in `realm` without credentials and with a wrong secret, and
/// answered 200 with the right ones.
async fn guarded<F, Fut>(send: F, request: Request, realm: &str)
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let what = format!("{} {}", request.method, request.path);
    let response = send(with(request.clone(), As::Nobody)).await;
    assert_refused(&response, realm, "Missing 'Authorization' header", &what);
    let response = send(with(request.clone(), As::WrongSecret)).await;
    assert_refused(&response, realm, "Invalid credentials", &what);
    let response = send(with(request, As::Operator)).await;
    assert_eq!(
        response.status, 200,
        "{what} with credentials: {response:?}"
    );
}

/// `request` is answered 200 without credentials.
async fn open<F, Fut>(send: F, request: Request)
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let what = format!("{} {}", request.method, request.path);
    let response = send(request).await;
    assert_eq!(
        response.status, 200,
        "{what} without credentials: {response:?}"
    );
}

/// A `/flags` answer shows the two flags with these values.
fn assert_auth_flags(response: &Response, readonly: &str, readwrite: &str) {
    let flags: Value = serde_json::from_slice(&response.body).unwrap();
    let shown = |name: &str| flags["flags"][name].as_str().map(str::to_string);
    assert_eq!(
        (
            shown("authenticate_http_readonly"),
            shown("authenticate_http_readwrite")
        ),
        (Some(readonly.to_string()), Some(readwrite.to_string())),
        "{flags}"
    );
}

fn master_flags(extra: &[&str], credentials: &std::path::Path) -> Vec<String> {
    let mut flags = default_flags();
    flags.push(format!("--credentials={}", credentials.display()));
    flags.extend(extra.iter().map(|f| f.to_string()));
    flags
}

#[tokio::test]
async fn each_master_flag_guards_its_own_endpoints() {
    let credentials = credentials_file();

    // Read-write alone: the whole operator API (GET_* calls too, as Mesos) and
    // /weights; the reports stay open.
    let master = Master::start_with(&master_flags(
        &["--authenticate_http_readwrite"],
        &credentials,
    ))
    .await;
    let send = |r: Request| master.send(r);
    guarded(send, get_health_call(), "mesos-master-readwrite").await;
    let update_weights = json!({"type": "UPDATE_WEIGHTS",
        "update_weights": {"weight_infos": [{"role": "ops", "weight": 2.0}]}});
    let update_weights = operator_call("/master/api/v1", update_weights);
    guarded(send, update_weights, "mesos-master-readwrite").await;
    guarded(send, Request::get("/weights"), "mesos-master-readwrite").await;
    // `/master/teardown` too; with credentials it gets as far as the unknown framework.
    let teardown = || Request::post("/master/teardown").body("frameworkId=no-such-framework");
    let response = send(with(teardown(), As::Nobody)).await;
    let missing = "Missing 'Authorization' header";
    assert_refused(
        &response,
        "mesos-master-readwrite",
        missing,
        "/master/teardown",
    );
    let response = send(with(teardown(), As::Operator)).await;
    assert_eq!(response.status, 400, "{response:?}");
    for path in [
        "/master/state",
        "/metrics/snapshot",
        "/master/slaves",
        "/health",
        "/version",
    ] {
        open(send, Request::get(path)).await;
    }
    let flags = master.send(Request::get("/master/flags")).await;
    assert_auth_flags(&flags, "false", "true");
    // The scheduler API is --authenticate_http_frameworks's, off here.
    let subscribed = master
        .open(support::subscribe_request(&support::subscribe_call(
            &support::framework_info("open"),
        )))
        .await;
    assert!(subscribed.is_ok(), "{:?}", subscribed.err());
    drop(master);

    // Read-only alone: the reports and /flags; the operator API stays open.
    let master = Master::start_with(&master_flags(
        &["--authenticate_http_readonly=true"],
        &credentials,
    ))
    .await;
    let send = |r: Request| master.send(r);
    for path in [
        "/master/state",
        "/state.json",
        "/master/frameworks",
        "/master/slaves",
        "/master/tasks",
        "/master/state-summary",
        "/master/roles",
        "/metrics/snapshot",
        "/flags",
        "/master/flags",
    ] {
        guarded(send, Request::get(path), "mesos-master-readonly").await;
    }
    open(send, get_health_call()).await;
    open(send, Request::get("/weights")).await;
    for path in ["/health", "/master/health", "/version"] {
        open(send, Request::get(path)).await;
    }
    // Another principal of the file is as good as any.
    let response = master
        .send(Request::get("/master/state").header("Authorization", &basic_auth("reader", "r3ad")))
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    master.assert_alive().await;
}

/// Runs `ratufa <args>` to its exit; its status code and what it printed.
fn run_to_exit(args: &[String]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_flag_without_credentials_stops_the_daemon() {
    for flag in [
        "--authenticate_http_readonly",
        "--authenticate_http_readwrite",
    ] {
        let (code, stderr) = run_to_exit(&[
            "master".into(),
            "--ip=127.0.0.1".into(),
            format!("--port={}", support::free_port()),
            flag.into(),
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} is set but no --credentials were given")),
            "{stderr}"
        );

        let work_dir = fresh_dir("agent-no-credentials");
        let (code, stderr) = run_to_exit(&[
            "agent".into(),
            "--master=127.0.0.1:1".into(),
            format!("--work_dir={}", work_dir.display()),
            "--ip=127.0.0.1".into(),
            format!("--port={}", support::free_port()),
            format!("{flag}=true"),
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{flag} is set but no --http_credentials were given"
            )),
            "{stderr}"
        );
    }
    // A credentials file that does not parse is named, as for frameworks.
    let bad = fresh_dir("bad-credentials").join("credentials");
    std::fs::write(&bad, "lonely\n").unwrap();
    let (code, stderr) = run_to_exit(&[
        "master".into(),
        "--ip=127.0.0.1".into(),
        format!("--port={}", support::free_port()),
        "--authenticate_http_readwrite".into(),
        format!("--credentials={}", bad.display()),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    // One without any credentials is refused, as Mesos refuses an empty one.
    let empty = fresh_dir("empty-credentials").join("credentials");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let work_dir = fresh_dir("agent-empty-credentials");
    let (code, stderr) = run_to_exit(&[
        "agent".into(),
        "--master=127.0.0.1:1".into(),
        format!("--work_dir={}", work_dir.display()),
        "--ip=127.0.0.1".into(),
        format!("--port={}", support::free_port()),
        format!("--http_credentials={}", empty.display()),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("at least one credential"), "{stderr}");
}

#[tokio::test]
async fn each_agent_flag_guards_its_own_endpoints() {
    let credentials = credentials_file();
    let master = Master::start_with(&default_flags()).await;
    let http_credentials = format!("--http_credentials={}", credentials.display());

    let agent = Agent::start(
        &master,
        &[
            "--authenticate_http_readonly",
            "--authenticate_http_readwrite",
            &http_credentials,
        ],
    )
    .await;
    let send = |r: Request| agent.send(r);
    guarded(send, get_health_call(), "mesos-agent-readwrite").await;
    let get_state = operator_call("/slave(1)/api/v1", json!({"type": "GET_STATE"}));
    guarded(send, get_state, "mesos-agent-readwrite").await;
    for path in [
        "/state",
        "/slave(1)/state",
        "/flags",
        "/metrics/snapshot",
        "/monitor/statistics",
        "/files/browse?path=/",
    ] {
        let request = Request::get(path);
        // /files/browse of a path outside every sandbox is 404 once authenticated;
        // what matters here is that nobody gets that far without credentials.
        if path.starts_with("/files/") {
            let response = agent.send(request.clone()).await;
            assert_refused(&response, "mesos-agent-readonly", "Missing", path);
            let response = agent.send(with(request, As::Operator)).await;
            assert_ne!(response.status, 401, "{path}: {response:?}");
            continue;
        }
        guarded(send, request, "mesos-agent-readonly").await;
    }
    for path in ["/health", "/slave(1)/health", "/version"] {
        open(send, Request::get(path)).await;
    }
    // The agent link is not an operator endpoint: the agent registered as usual.
    wait_for_agents(&master, 1).await;
    drop(agent);

    // Read-only alone leaves the operator API open.
    let agent = Agent::start(
        &master,
        &["--authenticate_http_readonly", &http_credentials],
    )
    .await;
    let send = |r: Request| agent.send(r);
    open(send, get_health_call()).await;
    guarded(send, Request::get("/state"), "mesos-agent-readonly").await;
    let flags = agent.send(with(Request::get("/flags"), As::Operator)).await;
    assert_auth_flags(&flags, "true", "false");
    agent.assert_alive().await;
}

/// Waits until the master lists `count` agents.
async fn wait_for_agents(master: &Master, count: usize) {
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let slaves = master.send(Request::get("/master/slaves")).await;
        let slaves: Value = serde_json::from_slice(&slaves.body).unwrap_or_default();
        if slaves["slaves"].as_array().map_or(0, Vec::len) == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agents never registered: {slaves}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ratufa_local_guards_the_master_and_its_agents_with_one_file() {
    let credentials = credentials_file();
    let (master, agent_port) = start_local_with_agent(&[
        "--authenticate_http_readwrite".to_string(),
        format!("--credentials={}", credentials.display()),
    ])
    .await;
    let send = |r: Request| master.send(r);
    guarded(send, get_health_call(), "mesos-master-readwrite").await;
    open(send, Request::get("/master/state")).await;
    let agent = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, agent_port));
    let send_agent = |r: Request| async move { support::send_to(agent, r).await.unwrap() };
    guarded(send_agent, get_health_call(), "mesos-agent-readwrite").await;
    open(send_agent, Request::get("/state")).await;
    wait_for_agents(&master, 1).await;
}

#[tokio::test]
async fn a_follower_authenticates_before_it_redirects_or_forwards() {
    if !zookeeper::require() {
        return;
    }
    let credentials = credentials_file();
    // The forwarding follower also takes a principal the leader does not know: the
    // leader's refusal of it shows who checked.
    let follower_credentials = fresh_dir("credentials").join("credentials");
    std::fs::write(
        &follower_credentials,
        format!("{PRINCIPAL} {SECRET}\nstranger s7range\n"),
    )
    .unwrap();
    let zk = ZooKeeper::standalone();
    let mut flags = zk_flags(&zk.url("/mesos"));
    flags.push("--authenticate_http_readwrite".into());
    let proxying = {
        let mut flags = flags.clone();
        flags.push(format!("--credentials={}", follower_credentials.display()));
        flags.push("--leader_proxy".into());
        flags
    };
    flags.push(format!("--credentials={}", credentials.display()));
    let first = Master::start_with(&flags).await;
    await_state_status(&first, 200).await;
    // The first master leads (the only one); the second follows it.
    let redirecting = Master::start_with(&flags).await;
    let forwarding = Master::start_with(&proxying).await;
    let deadline = Instant::now() + SETTLE;
    for follower in [&redirecting, &forwarding] {
        loop {
            let location = follower.send(Request::get("/master/redirect")).await;
            if location.header("Location")
                == Some(format!("http://localhost:{}", first.port()).as_str())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the follower never found the leader: {location:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let response = redirecting.send(get_health_call()).await;
    assert_refused(&response, "mesos-master-readwrite", "Missing", "follower");
    let response = redirecting
        .send(with(get_health_call(), As::Operator))
        .await;
    assert_eq!(response.status, 307, "{response:?}");

    let response = forwarding.send(get_health_call()).await;
    assert_refused(
        &response,
        "mesos-master-readwrite",
        "Missing",
        "proxying follower",
    );
    let response = forwarding
        .send(with(get_health_call(), As::WrongSecret))
        .await;
    assert_refused(
        &response,
        "mesos-master-readwrite",
        "Invalid",
        "proxying follower",
    );
    // Answered by the leader, which checked the forwarded credentials itself.
    let response = forwarding.send(with(get_health_call(), As::Operator)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let health: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(health["get_health"]["healthy"], true, "{health}");
    // The follower lets the stranger by; the leader does not.
    let response = forwarding
        .send(get_health_call().header("Authorization", &basic_auth("stranger", "s7range")))
        .await;
    assert_refused(
        &response,
        "mesos-master-readwrite",
        "Invalid credentials",
        "stranger",
    );
}
