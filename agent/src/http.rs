//! The agent's own endpoints: `/health`, `/version`, `/state`, `/flags`,
//! `/monitor/statistics`, `/files/*`, the operator API `/api/v1` and the executor API
//! `/api/v1/executor`.

pub(crate) mod executor;
mod monitor;
mod operator;
pub(crate) mod procfs;
mod state;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::any;
use serde_json::{Value, json};

use crate::files::Sandboxes;
use crate::isolator::Isolator;

pub(crate) fn app(
    sandboxes: Sandboxes,
    isolator: Arc<dyn Isolator>,
    executors: executor::ExecutorApi,
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
        .route("/version", any(version))
        .merge(state_routes)
        .merge(operator::routes(sandboxes.clone(), isolator.clone()))
        .merge(executor_routes)
        .merge(monitor::routes(sandboxes.clone(), isolator))
        .merge(crate::files::routes(sandboxes))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": crate::VERSION }))
}
