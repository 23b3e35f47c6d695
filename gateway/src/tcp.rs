//! ratufa's HTTP clients: every socket sets TCP_NODELAY, https when the process has
//! TLS; a refused call's status and body read one way. (The servers' side is
//! [`crate::tls::listener`].)
//!
//! Event streams and calls are small records written one at a time. With Nagle's
//! algorithm on, a record written while an earlier one is still unacknowledged waits
//! for the peer's delayed ACK (up to 40 ms on Linux); a task launch crosses several such
//! hops (master, agent, executor, scheduler).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::body::Body;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::tls::Tls;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every ratufa client connects with: `http://` URLs in plain TCP, `https://`
/// ones with TLS. With LIBPROCESS_SSL_SUPPORT_DOWNGRADE, an `https://` connection
/// whose handshake fails is made again in plain TCP, as a libprocess client does, so
/// that a cluster can turn TLS on one process at a time.
#[derive(Clone, Debug)]
pub struct Connector {
    inner: HttpsConnector<HttpConnector>,
    downgrade: bool,
}

impl tower_service::Service<Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let first = self.inner.call(uri.clone());
        let plain = (self.downgrade && uri.scheme() == Some(&http::uri::Scheme::HTTPS))
            .then(|| with_http_scheme(&uri))
            .flatten();
        let mut inner = self.inner.clone();
        Box::pin(async move {
            match (first.await, plain) {
                (Ok(stream), _) => Ok(stream),
                (Err(e), Some(plain)) => {
                    tracing::info!(%uri, error = %e, "TLS failed; downgrading to plain HTTP");
                    inner.call(plain).await
                }
                (Err(e), None) => Err(e),
            }
        })
    }
}

/// `uri` with the `http` scheme.
fn with_http_scheme(uri: &Uri) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    Uri::from_parts(parts).ok()
}

/// A pooled HTTP/1.1 client whose connections set TCP_NODELAY. With `tls` it speaks
/// `https://` URLs, verifying and presenting certificates as the settings say;
/// without, an `https://` URL fails its handshake (nothing is trusted).
pub fn http_client<B>(tls: Option<&Tls>) -> Client<Connector, B>
where
    B: Body + Send,
    B::Data: Send,
{
    let config = match tls {
        Some(tls) => (*tls.client_config()).clone(),
        None => untrusting_config(),
    };
    let downgrade = tls.is_some_and(|tls| tls.settings().support_downgrade);
    build(config, downgrade)
}

fn build<B>(config: rustls::ClientConfig, downgrade: bool) -> Client<Connector, B>
where
    B: Body + Send,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    // The scheme is the TLS layer's to check, not the TCP connector's.
    http.enforce_http(false);
    let inner = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(Connector { inner, downgrade })
}

/// A pooled client for URLs outside the cluster (the fetcher's): `https://` verified
/// against the system's authorities, and also against this process's CA_FILE and
/// CA_DIR when it has TLS, as curl would with its CA bundle; no client certificate is
/// presented and nothing is downgraded.
pub fn web_client<B>(tls: Option<&Tls>) -> Client<Connector, B>
where
    B: Body + Send,
    B::Data: Send,
{
    let mut roots = rustls::RootCertStore::empty();
    crate::tls::files::add_native_roots(&mut roots);
    if let Some(tls) = tls {
        roots
            .roots
            .extend(tls.configured_roots().roots.iter().cloned());
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        // ring's provider supports every safe default version; this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    build(config, false)
}

/// A pooled client whose `https://` connections take any server certificate: for a
/// task's own health endpoint, which Mesos's checks also reach without verification
/// (curl `-k`), a task's certificate being for its clients, not for 127.0.0.1.
pub fn unverified_client<B>() -> Client<Connector, B>
where
    B: Body + Send,
    B::Data: Send,
{
    let provider = crate::tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        // ring's provider supports every safe default version; this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(crate::tls::verify::AnyServerCert {
            provider,
        }))
        .with_no_client_auth();
    build(config, false)
}

/// A client configuration that trusts no authority, for a process without TLS.
fn untrusting_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        // ring's provider supports every safe default version; this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// What a peer answered when it refused a call: the status and the body as text (the
/// master's and agent's refusals name the field at fault there).
pub async fn refusal(response: hyper::Response<hyper::body::Incoming>) -> (u16, String) {
    use http_body_util::BodyExt;
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(e) => format!("(body unreadable: {e})"),
    };
    (status, body)
}
