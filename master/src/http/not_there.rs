//! Mesos's master endpoints that ratufa does not have yet (docs/COMPATIBILITY.md, "Not
//! there yet"): each answers 501 naming itself and what is missing, as the operator
//! API answers its calls that are not there, rather than a 404 that reads as a
//! mistyped URL.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::any;
use ratufa_gateway::ApiError;

use crate::MasterHandle;

/// Endpoint (under `/` and `/master/`), and why it is not there.
const ENDPOINTS: [(&str, &str); 9] = [
    (
        "/maintenance/schedule",
        "ratufa has no maintenance schedules",
    ),
    ("/maintenance/status", "ratufa has no maintenance schedules"),
    ("/machine/down", "ratufa has no maintenance schedules"),
    ("/machine/up", "ratufa has no maintenance schedules"),
    ("/quota", "ratufa has no quota"),
    ("/reserve", "ratufa has no dynamic reservations"),
    ("/unreserve", "ratufa has no dynamic reservations"),
    ("/create-volumes", "ratufa has no persistent volumes"),
    ("/destroy-volumes", "ratufa has no persistent volumes"),
];

/// The routes of [`ENDPOINTS`], each answering 501.
pub(super) fn routes() -> Router<MasterHandle> {
    let mut router = Router::new();
    for (path, why) in ENDPOINTS {
        let answer = move || async move {
            ApiError::not_implemented(format!(
                "'{path}' is not implemented by ratufa's master: {why}"
            ))
            .into_response()
        };
        router = router
            .route(path, any(answer))
            .route(&format!("/master{path}"), any(answer));
    }
    router
}
