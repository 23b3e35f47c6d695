//! The ratufa agent (minimal until issue #4): registers with the master over the agent
//! link, keeps the command stream open (answering pings, reconnecting with backoff and
//! re-registering with what it runs), runs command tasks as child processes in their
//! own process groups, and delivers their status updates until acknowledged.
//!
//! - [`run`] / [`serve`]: an agent on a port, until a shutdown future resolves;
//! - `agent`: the loop that owns the agent's state;
//! - [`updates`]: the status-update manager (pure, time passed in);
//! - [`checkpoint`]: what survives an agent restart, under `<work_dir>/meta`;
//! - [`process`] and `runner`: a task's process and its life;
//! - [`link`]: the HTTP client of the master's `/agent/api/v1`;
//! - [`detect`]: `--resources` plus what the machine has;
//! - [`files`]: the sandboxes as `/files/*` and `/state` see them;
//! - [`gc`]: ended containers' sandboxes removed after `--gc_delay`, sooner as the
//!   disk fills.

mod agent;
mod backoff;
pub mod checkpoint;
mod config;
pub mod container_info;
pub mod detect;
mod error;
pub mod executors;
pub mod fetcher;
pub mod files;
pub mod gc;
mod http;
pub mod isolator;
pub mod link;
pub mod master_detector;
pub mod process;
mod runner;
mod status;
pub mod updates;

use std::future::Future;
use std::net::SocketAddr;

use ratufa_proto::v1::AgentInfo;
use tokio::net::TcpListener;

pub use config::{
    AgentConfig, DEFAULT_KILL_GRACE_PERIOD, DEFAULT_PORT, DEFAULT_REGISTRATION_BACKOFF,
    MAX_REGISTRATION_BACKOFF, Recover, STATUS_UPDATE_RETRY_MAX, STATUS_UPDATE_RETRY_MIN,
};
pub use error::AgentError;
pub use runner::grace_period;

/// Binds `--ip`/`--port` and runs the agent until `shutdown` resolves.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let addr = SocketAddr::new(config.ip, config.port);
    let listener = TcpListener::bind(addr).await?;
    serve(config, listener, shutdown).await
}

/// Runs the agent with its HTTP endpoints on `listener` (port 0 works: the bound port
/// is what the agent advertises) until `shutdown` resolves; then its tasks are killed.
pub async fn serve(
    config: AgentConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let realms = operator_realms(&config)?;
    let link = link::MasterLink::new(&config.master, config.tls.as_ref())?;
    let isolator = isolator::from_config(&config)?;
    std::fs::create_dir_all(&config.work_dir).map_err(|source| AgentError::Sandbox {
        path: config.work_dir.clone(),
        source,
    })?;
    let bound = listener.local_addr()?;
    let info = agent_info(&config, bound)?;
    let mut config = config;
    config.advertise_ip = Some(config.advertise_ip.unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            ratufa_gateway::tcp::outward_ip()
        } else {
            bound.ip()
        }
    }));
    tracing::info!(
        %bound,
        master = link.master(),
        hostname = %info.hostname,
        isolation = %isolator.name(),
        resources = %ratufa_proto::resources::Resources::try_from_vec(info.resources.clone())
            .map(|r| r.to_string())
            .unwrap_or_default(),
        "agent started"
    );

    // One signal, two listeners: the HTTP server and the agent loop.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http_stop = {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let agent_stop = {
        let mut stop_rx = stop_rx;
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    // Executors reach us on the address we bound, or the loopback when we bound every
    // interface.
    let endpoint = if bound.ip().is_unspecified() {
        SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            bound.port(),
        )
    } else {
        bound
    };
    let listener = ratufa_gateway::tls::listener(listener, config.tls.as_ref())?;
    let mut agent = agent::Agent::new(config, info, link, endpoint).with_isolator(isolator.clone());
    let app = http::app(agent.sandboxes(), isolator, agent.executor_api(), &realms);
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(http_stop)
            .await
    });
    if let Err(e) = agent.recover().await {
        tracing::error!(error = %e, "agent recovery failed");
        server.abort();
        return Err(e);
    }
    agent.run(agent_stop).await;
    match server.await {
        Ok(result) => result?,
        Err(e) => tracing::warn!(error = %e, "the agent's HTTP server task failed"),
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// What the agent registers as.
fn agent_info(config: &AgentConfig, bound: SocketAddr) -> Result<AgentInfo, AgentError> {
    let resources = detect::resources(
        config.resources.as_deref(),
        &config.default_role,
        &config.work_dir,
    )?;
    let attributes = detect::attributes(config.attributes.as_deref())?;
    let hostname = config.hostname.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            system_hostname().unwrap_or_else(|| "localhost".to_string())
        } else {
            bound.ip().to_string()
        }
    });
    Ok(AgentInfo {
        hostname,
        port: Some(i32::from(bound.port())),
        resources: resources.into_vec(),
        attributes,
        id: None,
        domain: None,
    })
}

fn system_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// The realms `--authenticate_http_readonly` and `--authenticate_http_readwrite` turn
/// on; either without `--http_credentials` is refused.
fn operator_realms(config: &AgentConfig) -> Result<ratufa_gateway::OperatorRealms, AgentError> {
    let auth_flags = [
        (
            "authenticate_http_readonly",
            config.authenticate_http_readonly,
        ),
        (
            "authenticate_http_readwrite",
            config.authenticate_http_readwrite,
        ),
    ];
    let have_credentials = config.http_credentials.is_some();
    if let Some(flag) =
        ratufa_gateway::realm::flag_without_credentials(&auth_flags, have_credentials)
    {
        return Err(AgentError::MissingCredentials { flag });
    }
    Ok(ratufa_gateway::OperatorRealms::new(
        (http::READONLY_REALM, http::READWRITE_REALM),
        config.authenticate_http_readonly,
        config.authenticate_http_readwrite,
        config.http_credentials.as_ref(),
    ))
}
