//! ratufa's HTTP clients: every socket sets TCP_NODELAY, https when the process has
//! TLS; a refused call's status and body read one way; the servers' listening socket
//! with a deep accept queue ([`listen`]). (The servers' accepted connections are
//! [`crate::tls::listener`]'s.)
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
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The accept queue asked for; Linux caps it at `net.core.somaxconn` (4096 by default).
/// When thousands of agents re-register at once after a failover, tokio's default (128,
/// through mio) overflows, and each SYN dropped costs its agent a retransmission 1 s
/// later (then 3 s, 7 s), which is most of how long the last agents take to come back.
const LISTEN_BACKLOG: u32 = 65_535;

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

/// A listener on `addr` with the deepest accept queue the system allows (and, as
/// `TcpListener::bind`, SO_REUSEADDR, so a restarted server is not refused its port
/// while old connections linger in TIME_WAIT).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
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

/// The address this host would use to reach others, found by "connecting" a UDP socket
/// (no packet is sent); loopback when the host has no route at all.
pub fn outward_ip() -> std::net::IpAddr {
    // RFC 5737 TEST-NET-1: never a real peer, but routed like any outside address.
    let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket
                .connect((std::net::Ipv4Addr::new(192, 0, 2, 1), 9))
                .map(|()| socket)
        })
        .and_then(|socket| socket.local_addr());
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => addr.ip(),
        _ => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept queue of a listener as the kernel reports it: `ss` shows a listening
    /// socket's backlog as its Send-Q.
    fn backlog_of(port: u16) -> u32 {
        let out = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        // State, Recv-Q, Send-Q, local address, peer address.
        fields[2].parse().expect("Send-Q is a number")
    }

    #[tokio::test]
    async fn listen_asks_for_the_deepest_accept_queue() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("a number");
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(backlog_of(port), somaxconn.min(LISTEN_BACKLOG));
        // tokio's own bind, for contrast, asks for far less (128 through mio).
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(backlog_of(plain.local_addr().unwrap().port()) < backlog_of(port));
    }
}
