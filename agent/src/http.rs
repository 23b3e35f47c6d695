//! The agent's own endpoints: `/health`, `/version`, `/state`, `/flags`,
//! `/monitor/statistics`, `/files/*`, the operator API `/api/v1` and the executor API
//! `/api/v1/executor`.

pub(crate) mod executor;
mod monitor;
mod operator;
pub(crate) mod procfs;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use ratufa_gateway::OperatorRealms;

use crate::files::Sandboxes;
use crate::isolator::Isolator;

/// Mesos's realm for the agent's endpoints that only report
/// (`--authenticate_http_readonly`).
pub const READONLY_REALM: &str = "mesos-agent-readonly";
/// Mesos's realm for the agent's endpoints that can change it
/// (`--authenticate_http_readwrite`).
pub const READWRITE_REALM: &str = "mesos-agent-readwrite";

/// The routes, each in the realm Mesos puts it in. The executor API stays open: Mesos
/// guards it with `--authenticate_http_executors` (JWT), which ratufa lacks.
pub(crate) fn app(
    sandboxes: Sandboxes,
    isolator: Arc<dyn Isolator>,
    executors: executor::ExecutorApi,
    realms: &OperatorRealms,
) -> Router {
    let executor_routes = Router::new()
        .route("/api/v1/executor", any(executor::executor_api))
        .route("/slave(1)/api/v1/executor", any(executor::executor_api))
        .with_state(executors);
    let state_routes = Router::new()
        .route("/state", any(state::state))
        .route("/state.json", any(state::state))
        .route("/slave(1)/state", any(state::state))
        .route("/slave(1)/state.json", any(state::state))
        .with_state(sandboxes.clone());
    Router::new()
        .route("/health", any(ratufa_gateway::health))
        .route("/slave(1)/health", any(ratufa_gateway::health))
        .route("/version", any(ratufa_gateway::version::version))
        .merge(realms.readonly(state_routes))
        .merge(operator::routes(
            sandboxes.clone(),
            isolator.clone(),
            realms,
        ))
        .merge(executor_routes)
        .merge(realms.readonly(monitor::routes(sandboxes.clone(), isolator)))
        .merge(realms.readonly(crate::files::routes(sandboxes)))
        .layer(axum::middleware::from_fn(ratufa_gateway::jsonp::jsonp))
}
