//! Serving the master on a listener the caller bound.

use std::future::Future;
use std::sync::Arc;

use ratufa_gateway::Leadership;
use ratufa_gateway::realm::flag_without_credentials;
use tokio::net::TcpListener;

use crate::config::MIN_AGENT_REREGISTER_TIMEOUT;
use crate::core::roles;
use crate::registry::{FileStore, MemoryStore, SharedStore};
use crate::{MasterConfig, MasterError, MasterHandle};

/// Starts a master and serves its routes on `listener` until `shutdown` resolves.
///
/// The advertised port is the listener's (so port 0 works), unless
/// `advertise_port` says otherwise. On shutdown every event stream is closed so that
/// open subscriptions do not hold the server up. Without `--zk` the master always
/// leads; with it, it contends (see [`contention`](crate::contention)).
pub async fn serve(
    config: MasterConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    check(&config)?;
    // The work_dir is locked for as long as this master runs, so a second master on
    // the same directory is refused here rather than sharing it. A single master keeps
    // its registry there (in memory without a work_dir: nothing outlives it); with
    // --zk the registry is in ZooKeeper, and the lock alone remains.
    let work_dir_store = config
        .work_dir
        .as_deref()
        .map(FileStore::open)
        .transpose()?;
    let bound = listener.local_addr()?;
    let zk = config.zk.clone();
    let zk_session_timeout = config.zk_session_timeout;
    let master = MasterHandle::start_at(config, Some(bound));
    let leadership: Arc<dyn Leadership> = match zk {
        Some(url) => crate::contention::start(master.clone(), url, zk_session_timeout),
        None => {
            let store = match work_dir_store {
                Some(store) => SharedStore::new(store),
                None => SharedStore::new(MemoryStore::new()),
            };
            // A registry that cannot be read at start is an error the operator
            // must see: the master exits rather than serving.
            let failure = master
                .lead(master.master_info(), store.clone(), None)
                .await?;
            crate::term::single_master(master.clone(), store, failure)
        }
    };
    let app = crate::app(master.clone(), leadership);
    let listener = ratufa_gateway::tls::listener(listener, master.tls())?;
    tracing::info!(%bound, scheme = ratufa_gateway::tls::scheme(master.tls()), "master listening");

    let stopping = master.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown => tracing::info!("master shutting down"),
                () = stopping.failed() => tracing::error!("master stopping: it cannot go on"),
            }
            stopping.shutdown().await;
        })
        .await?;
    match master.take_failure() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Refuses configurations that could only misbehave.
fn check(config: &MasterConfig) -> Result<(), MasterError> {
    let auth_flags = [
        (
            "authenticate_http_frameworks",
            config.authenticate_http_frameworks,
        ),
        (
            "authenticate_http_readonly",
            config.authenticate_http_readonly,
        ),
        (
            "authenticate_http_readwrite",
            config.authenticate_http_readwrite,
        ),
    ];
    if let Some(flag) = flag_without_credentials(&auth_flags, config.credentials.is_some()) {
        return Err(MasterError::MissingCredentials { flag });
    }
    if config.heartbeat_interval.is_zero() {
        return Err(MasterError::ZeroHeartbeatInterval);
    }
    let positive = |flag: &'static str, ok: bool, given: String| {
        if ok {
            Ok(())
        } else {
            Err(MasterError::BadFlag {
                flag,
                given,
                reason: "must be greater than zero".to_string(),
            })
        }
    };
    positive(
        "--agent_ping_timeout",
        !config.agent_ping_timeout.is_zero(),
        format!("{:?}", config.agent_ping_timeout),
    )?;
    positive(
        "--max_agent_ping_timeouts",
        config.max_agent_ping_timeouts > 0,
        config.max_agent_ping_timeouts.to_string(),
    )?;
    positive(
        "--allocation_interval",
        !config.allocation_interval.is_zero(),
        format!("{:?}", config.allocation_interval),
    )?;
    positive(
        "--zk_session_timeout",
        !config.zk_session_timeout.is_zero(),
        format!("{:?}", config.zk_session_timeout),
    )?;
    positive(
        "--max_offers_per_event",
        config.max_offers_per_event > 0,
        config.max_offers_per_event.to_string(),
    )?;
    if config.agent_reregister_timeout < MIN_AGENT_REREGISTER_TIMEOUT {
        return Err(MasterError::BadFlag {
            flag: "--agent_reregister_timeout",
            given: format!("{:?}", config.agent_reregister_timeout),
            reason: format!("must be at least {MIN_AGENT_REREGISTER_TIMEOUT:?}"),
        });
    }
    for role in config.roles.iter().flatten() {
        roles::validate_role(role).map_err(|reason| MasterError::InvalidRole {
            role: role.clone(),
            reason,
        })?;
    }
    Ok(())
}
