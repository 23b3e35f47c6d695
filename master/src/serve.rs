//! Serving the master on a listener the caller bound.

use std::future::Future;
use std::sync::Arc;

use ratufa_gateway::{AlwaysLeader, Leadership};
use tokio::net::TcpListener;

use crate::core::roles;
use crate::{MasterConfig, MasterError, MasterHandle};

/// Starts a master and serves its routes on `listener` until `shutdown` resolves.
///
/// The advertised port is the listener's (so port 0 works), unless
/// `advertise_port` says otherwise. On shutdown every event stream is closed so that
/// open subscriptions do not hold the server up. Single-master: always the leader.
pub async fn serve(
    config: MasterConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    check(&config)?;
    let bound = listener.local_addr()?;
    let master = MasterHandle::start_at(config, Some(bound));
    let leadership: Arc<dyn Leadership> = Arc::new(AlwaysLeader);
    let app = crate::app(master.clone(), leadership);
    tracing::info!(%bound, "master listening");

    let stopping = master.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("master shutting down");
            stopping.shutdown().await;
        })
        .await?;
    Ok(())
}

/// Refuses configurations that could only misbehave.
fn check(config: &MasterConfig) -> Result<(), MasterError> {
    if config.authenticate_http_frameworks && config.credentials.is_none() {
        return Err(MasterError::MissingCredentials);
    }
    if config.heartbeat_interval.is_zero() {
        return Err(MasterError::ZeroHeartbeatInterval);
    }
    for role in config.roles.iter().flatten() {
        roles::validate_role(role).map_err(|reason| MasterError::InvalidRole {
            role: role.clone(),
            reason,
        })?;
    }
    Ok(())
}
