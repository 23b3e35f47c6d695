//! Sockets for small messages: every HTTP client and server of ratufa sets TCP_NODELAY.
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
