//! ratufa's HTTP clients and servers: every socket sets TCP_NODELAY; a refused call's
//! status and body read one way.
//!
//! Event streams and calls are small records written one at a time. With Nagle's
//! algorithm on, a record written while an earlier one is still unacknowledged waits
//! for the peer's delayed ACK (up to 40 ms on Linux); a task launch crosses several such
//! hops (master, agent, executor, scheduler).

use axum::serve::{ListenerExt, TapIo};
use hyper::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::{TcpListener, TcpStream};

/// A pooled HTTP/1.1 client whose connections set TCP_NODELAY.
pub fn http_client<B>() -> Client<HttpConnector, B>
where
    B: Body + Send,
    B::Data: Send,
{
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// `listener`, with TCP_NODELAY set on every connection it accepts (for `axum::serve`).
pub fn nodelay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(tcp: &mut TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
    }
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
