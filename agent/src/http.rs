//! The agent's own endpoints: `/health`, `/version`, `/state`, `/flags`,
//! `/monitor/statistics` and `/files/*` (the executor and operator APIs arrive with
//! issue #4).

mod monitor;
mod operator;
mod procfs;
mod state;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::any;
use serde_json::{Value, json};

use crate::files::Sandboxes;
use crate::isolator::Isolator;

pub fn app(sandboxes: Sandboxes, isolator: Arc<dyn Isolator>) -> Router {
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
        .merge(monitor::routes(sandboxes.clone(), isolator))
        .merge(crate::files::routes(sandboxes))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": crate::VERSION }))
}
