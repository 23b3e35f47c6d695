//! Only the leading master answers API calls: a follower redirects to the leader, and
//! without one (or before the registry is recovered) the client is told to retry.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Where this process stands in the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderStatus {
    /// Elected and recovered: serve.
    Leading,
    /// Elected, still reading the registry: not yet safe to act on calls.
    Recovering,
    /// Another master leads; `base_url` is its advertised `scheme://host:port`.
    Following { base_url: String },
    /// No leader is elected (or we do not know it yet).
    NoLeader,
}

/// The source of [`LeaderStatus`], asked once per request; implementations should
/// answer from memory (an atomic or a watch channel), never block.
pub trait Leadership: Send + Sync + 'static {
    fn status(&self) -> LeaderStatus;
}

/// For a single master, and for the agent, which always serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysLeader;

impl Leadership for AlwaysLeader {
    fn status(&self) -> LeaderStatus {
        LeaderStatus::Leading
    }
}

/// How long a client is asked to wait before retrying while there is no leader or it
/// is recovering. Elections settle within ZooKeeper's session timeout (10 s); a short
/// wait lets clients find the new leader soon after.
pub const LEADER_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Middleware for the API routes (`axum::middleware::from_fn_with_state`):
/// Leading → the route; Following → 307 to the same path and query on the leader;
/// NoLeader / Recovering → 503 with `Retry-After`.
///
/// Mesos sends a protocol-relative `Location` (`//host:port/path`), which several
/// clients had to patch around; ratufa sends the absolute URL on purpose.
pub async fn require_leader(
    State(leadership): State<Arc<dyn Leadership>>,
    req: Request,
    next: Next,
) -> Response {
    match leadership.status() {
        LeaderStatus::Leading => next.run(req).await,
        LeaderStatus::Following { base_url } => {
            // Under `Router::nest` the request's own URI has lost its prefix; the
            // original one is what the client must repeat on the leader.
            let uri = req
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| req.uri().clone(), |o| o.0.clone());
            let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
            let location = format!("{}{path_and_query}", base_url.trim_end_matches('/'));
            tracing::debug!(%location, "not the leader; redirecting");
            ApiError::temporary_redirect(&location).into_response()
        }
        LeaderStatus::NoLeader => {
            ApiError::service_unavailable("No leader elected", LEADER_RETRY_AFTER).into_response()
        }
        LeaderStatus::Recovering => {
            ApiError::service_unavailable("Master has not finished recovery", LEADER_RETRY_AFTER)
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::Switch;
    use axum::Router;
    use axum::body::Body;
    use axum::http::header::{LOCATION, RETRY_AFTER};
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use http_body_util::BodyExt;
    use std::sync::Mutex;
    use tower::ServiceExt;

    fn app(status: LeaderStatus) -> Router {
        let leadership: Arc<dyn Leadership> = Arc::new(Switch(Mutex::new(status)));
        let api = Router::new()
            .route("/scheduler", post(|| async { "served" }))
            .route_layer(axum::middleware::from_fn_with_state(
                leadership,
                require_leader,
            ));
        Router::new()
            .nest("/api/v1", api.clone())
            .nest("/master/api/v1", api)
    }

    async fn call(app: Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app
            .oneshot(Request::post(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn leader_serves() {
        let (status, _, body) = call(app(LeaderStatus::Leading), "/api/v1/scheduler").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "served");
        let leadership: Arc<dyn Leadership> = Arc::new(AlwaysLeader);
        assert_eq!(leadership.status(), LeaderStatus::Leading);
    }

    #[tokio::test]
    async fn follower_redirects_to_the_full_original_uri() {
        let following = LeaderStatus::Following {
            base_url: "http://m2.example:5050/".into(),
        };
        let (status, headers, _) = call(app(following.clone()), "/api/v1/scheduler").await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(headers[LOCATION], "http://m2.example:5050/api/v1/scheduler");

        let (status, headers, _) = call(app(following), "/master/api/v1/scheduler?x=1&y=%20").await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            headers[LOCATION],
            "http://m2.example:5050/master/api/v1/scheduler?x=1&y=%20"
        );
    }

    #[tokio::test]
    async fn no_leader_is_503_with_retry_after() {
        let (status, headers, body) = call(app(LeaderStatus::NoLeader), "/api/v1/scheduler").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "No leader elected");
        assert_eq!(headers[RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn recovering_is_503_with_retry_after() {
        let (status, headers, body) =
            call(app(LeaderStatus::Recovering), "/api/v1/scheduler").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "Master has not finished recovery");
        assert!(headers.contains_key(RETRY_AFTER));
    }

    #[tokio::test]
    async fn status_is_asked_on_every_request() {
        let switch = Arc::new(Switch(Mutex::new(LeaderStatus::NoLeader)));
        let leadership: Arc<dyn Leadership> = switch.clone();
        let app = Router::new()
            .route("/api/v1/scheduler", post(|| async { "served" }))
            .route_layer(axum::middleware::from_fn_with_state(
                leadership,
                require_leader,
            ));
        assert_eq!(
            call(app.clone(), "/api/v1/scheduler").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        *switch.0.lock().unwrap() = LeaderStatus::Leading;
        assert_eq!(call(app, "/api/v1/scheduler").await.0, StatusCode::OK);
    }
}
