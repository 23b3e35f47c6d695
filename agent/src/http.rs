//! The agent's own endpoints: `/health` and `/version` (the executor and operator
//! APIs arrive with issue #4).

use axum::Json;
use axum::Router;
use axum::routing::any;
use serde_json::{Value, json};

pub fn app() -> Router {
    Router::new()
        .route("/health", any(ratufa_gateway::health))
        .route("/slave(1)/health", any(ratufa_gateway::health))
        .route("/version", any(version))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": crate::VERSION }))
}
