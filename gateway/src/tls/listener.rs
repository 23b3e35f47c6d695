//! The accepting side of every ratufa server (`axum::serve` takes a [`Listener`]):
//! TCP_NODELAY on every connection, and with TLS a handshake before HTTP. With
//! LIBPROCESS_SSL_SUPPORT_DOWNGRADE the same port also answers plain HTTP: a TLS
//! connection opens with a handshake record (first byte 0x16), which no HTTP request
//! line starts with, so one peeked byte tells them apart.
//!
//! Handshakes run in tasks of their own: a client that connects and says nothing must
//! not hold up the next one's accept.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::Tls;

/// A client that has not finished its handshake (or sent its first byte) by then is
/// dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS record carrying a handshake message (RFC 8446, 5.1).
const TLS_HANDSHAKE: u8 = 0x16;
/// Handshaken connections waiting for the server to take them.
const READY_BACKLOG: usize = 64;

/// One accepted connection: TLS, or plain (without TLS, or downgraded).
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A listener for `axum::serve`.
#[derive(Debug)]
pub struct Listener {
    local: SocketAddr,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Plain(TcpListener),
    /// Fed by the accept task, which ends when this is dropped.
    Tls(mpsc::Receiver<(Stream, SocketAddr)>),
}

/// Serves on `tcp`: https when `tls` is given (and plain HTTP too when it allows
/// downgrades), plain HTTP otherwise. Call inside a tokio runtime.
pub fn listener(tcp: TcpListener, tls: Option<&Tls>) -> io::Result<Listener> {
    let local = tcp.local_addr()?;
    let kind = match tls {
        None => Kind::Plain(tcp),
        Some(tls) => {
            let (ready, receiver) = mpsc::channel(READY_BACKLOG);
            let acceptor = TlsAcceptor::from(tls.server_config());
            let downgrade = tls.settings().support_downgrade;
            tokio::spawn(accept_loop(tcp, acceptor, downgrade, ready));
            Kind::Tls(receiver)
        }
    };
    Ok(Listener { local, kind })
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        match &mut self.kind {
            Kind::Plain(tcp) => {
                let (stream, peer) = accept_tcp(tcp).await;
                (Stream::Plain(stream), peer)
            }
            Kind::Tls(receiver) => match receiver.recv().await {
                Some(accepted) => accepted,
                // The accept task only ends once this receiver is gone.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The next TCP connection, with TCP_NODELAY set. Errors are logged and waited out
/// (a full file table clears as connections close), never returned: a server must
/// keep accepting.
async fn accept_tcp(tcp: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match tcp.accept().await {
            Ok((stream, peer)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
                }
                return (stream, peer);
            }
            // The peer gave up between SYN and accept: nothing to wait for.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                tracing::error!(error = %e, "accept failed; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    downgrade: bool,
    ready: mpsc::Sender<(Stream, SocketAddr)>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept_tcp(&tcp) => accepted,
            () = ready.closed() => return,
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, open(stream, acceptor, downgrade)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// TLS on `stream`, unless downgrades are allowed and the client speaks plain HTTP.
async fn open(stream: TcpStream, acceptor: TlsAcceptor, downgrade: bool) -> io::Result<Stream> {
    if downgrade {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before its first byte",
            ));
        }
        if first[0] != TLS_HANDSHAKE {
            return Ok(Stream::Plain(stream));
        }
    }
    Ok(Stream::Tls(Box::new(acceptor.accept(stream).await?)))
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
