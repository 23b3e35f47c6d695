//! `--leader_proxy`: a non-leading master forwards leader-only requests to the leader
//! and streams the answer back, so a client behind a load balancer that never follows
//! redirects still works. Status, headers (`Mesos-Stream-Id` among them) and streaming
//! bodies pass through unchanged. A proxied response body is closed as soon as this
//! master no longer follows that leader, so a client never keeps a stream to a master
//! that has stopped leading.
//!
//! Used as a middleware outside [`require_leader`](crate::require_leader): it handles
//! `Following` itself and passes everything else on.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use tokio::sync::mpsc;

use crate::leader::LEADER_RETRY_AFTER;
use crate::tcp::Connector;
use crate::{ApiError, LeaderStatus, Leadership, Tls};

/// How often a proxied stream checks that its leader still leads.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(250);

/// Forwards to the leader; cheap to clone.
#[derive(Clone)]
pub struct LeaderProxy {
    leadership: Arc<dyn Leadership>,
    client: Client<Connector, Full<Bytes>>,
    max_body_bytes: usize,
}

impl LeaderProxy {
    /// `tls`: this master's, so that it reaches an https leader as its peers do.
    pub fn new(
        leadership: Arc<dyn Leadership>,
        max_body_bytes: usize,
        tls: Option<&Tls>,
    ) -> LeaderProxy {
        LeaderProxy {
            leadership,
            client: crate::tcp::http_client(tls),
            max_body_bytes,
        }
    }
}

/// Headers that describe one connection, not the message: never forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name == header::HOST
        || name.as_str() == "keep-alive"
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn proxy_to_leader(
    State(proxy): State<LeaderProxy>,
    req: Request,
    next: Next,
) -> Response {
    let LeaderStatus::Following { base_url } = proxy.leadership.status() else {
        return next.run(req).await;
    };
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = format!("{}{path_and_query}", base_url.trim_end_matches('/'));
    match forward(&proxy, req, &target).await {
        Ok(response) => watch_leadership(proxy, base_url, response),
        Err(message) => {
            tracing::warn!(%target, %message, "could not proxy to the leader");
            ApiError::service_unavailable(
                format!("The leading master cannot be reached: {message}"),
                LEADER_RETRY_AFTER,
            )
            .into_response()
        }
    }
}

async fn forward(proxy: &LeaderProxy, req: Request, target: &str) -> Result<Response, String> {
    let uri: Uri = target
        .parse()
        .map_err(|e| format!("bad leader address {target}: {e}"))?;
    let (parts, body) = req.into_parts();
    let body = http_body_util::Limited::new(body, proxy.max_body_bytes)
        .collect()
        .await
        .map_err(|e| format!("reading the request body: {e}"))?
        .to_bytes();
    let mut upstream = http::Request::builder()
        .method(parts.method)
        .uri(uri.clone());
    if let Some(headers) = upstream.headers_mut() {
        copy_headers(&parts.headers, headers);
        if let Some(authority) = uri.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(header::HOST, host);
        }
    }
    let upstream = upstream
        .body(Full::new(body))
        .map_err(|e| format!("building the request: {e}"))?;
    let response = proxy
        .client
        .request(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let mut out = Response::builder().status(parts.status);
    if let Some(headers) = out.headers_mut() {
        copy_headers(&parts.headers, headers);
    }
    out.body(Body::new(body))
        .map_err(|e| format!("building the response: {e}"))
}

/// Streams `response`'s body through a task that ends it once this master stops
/// following `leader` (the leader changed, or nobody leads).
fn watch_leadership(proxy: LeaderProxy, leader: String, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let (sender, receiver) = mpsc::channel::<Result<Bytes, axum::Error>>(16);
    tokio::spawn(async move {
        let mut frames = body.into_data_stream();
        let mut check = tokio::time::interval(LEADERSHIP_CHECK);
        loop {
            tokio::select! {
                frame = frames.next() => {
                    let Some(frame) = frame else { return };
                    if sender.send(frame).await.is_err() {
                        return;
                    }
                }
                _ = check.tick() => {
                    let still = matches!(
                        proxy.leadership.status(),
                        LeaderStatus::Following { base_url } if base_url == leader
                    );
                    if !still {
                        tracing::info!(%leader, "leadership moved: closing a proxied stream");
                        return;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::require_leader;
    use crate::test_server::{Next, Records, Switch, connect, serve};
    use axum::Router;
    use axum::routing::post;
    use std::sync::Mutex;

    /// A leader whose scheduler endpoint streams a record every 50 ms, forever, and
    /// says which Host it was asked for.
    async fn upstream() -> std::net::SocketAddr {
        let router = Router::new().route(
            "/api/v1/scheduler",
            post(|headers: HeaderMap, body: Bytes| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let first = format!("{host} {}", String::from_utf8_lossy(&body));
                let records = futures::stream::unfold(0u32, move |n| {
                    let first = first.clone();
                    async move {
                        if n > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let text = if n == 0 { first } else { format!("tick {n}") };
                        let record = Bytes::from(format!("{}\n{text}", text.len()));
                        Some((Ok::<_, std::io::Error>(record), n + 1))
                    }
                });
                Response::builder()
                    .header("Mesos-Stream-Id", "stream-1")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from_stream(records))
                    .unwrap()
            }),
        );
        serve(router).await
    }

    fn proxying(switch: Arc<Switch>) -> Router {
        let leadership: Arc<dyn Leadership> = switch;
        Router::new()
            .route("/api/v1/scheduler", post(|| async { "served here" }))
            .route_layer(axum::middleware::from_fn_with_state(
                leadership.clone(),
                require_leader,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                LeaderProxy::new(leadership, 1 << 20, None),
                proxy_to_leader,
            ))
    }

    async fn post_to(
        addr: std::net::SocketAddr,
        body: &'static str,
    ) -> http::Response<hyper::body::Incoming> {
        let (mut sender, _conn) = connect(addr).await;
        let request = http::Request::post(format!("http://{addr}/api/v1/scheduler"))
            .header(header::HOST, addr.to_string())
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        sender.send_request(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_follower_streams_the_leaders_answer_until_leadership_moves() {
        let leader = upstream().await;
        let switch = Arc::new(Switch(Mutex::new(LeaderStatus::Following {
            base_url: format!("http://{leader}"),
        })));
        let follower = serve(proxying(switch.clone())).await;

        let response = post_to(follower, "subscribe").await;
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["mesos-stream-id"], "stream-1");
        let mut records = Records::new(response.into_body());
        // The leader saw its own address as Host, and the request's body.
        let first = records.record(Duration::from_secs(10)).await;
        assert_eq!(first, format!("{leader} subscribe"));
        assert_eq!(records.record(Duration::from_secs(10)).await, "tick 1");

        // This master leads now: the proxied stream ends, and calls are served here.
        *switch.0.lock().unwrap() = LeaderStatus::Leading;
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match records.next(Duration::from_secs(10)).await {
                    Next::Record(_) => continue,
                    other => return other,
                }
            }
        })
        .await;
        assert_eq!(ended.ok(), Some(Next::End));
        let response = post_to(follower, "call").await;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "served here");
    }

    #[tokio::test]
    async fn an_unreachable_leader_is_503_with_retry_after() {
        // A port nobody listens on: bound, then let go.
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = gone.local_addr().unwrap();
        drop(gone);
        let switch = Arc::new(Switch(Mutex::new(LeaderStatus::Following {
            base_url: format!("http://{addr}"),
        })));
        let follower = serve(proxying(switch)).await;
        let response = post_to(follower, "subscribe").await;
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }
}
