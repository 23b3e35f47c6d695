//! A router served on 127.0.0.1:0 and a real hyper client, for the tests where the
//! transport matters (chunking, flushing, disconnects).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{LeaderStatus, Leadership, RecordIoDecoder};

pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A client connection; aborting the returned task closes the socket.
pub async fn connect(addr: SocketAddr) -> (SendRequest<Full<Bytes>>, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, task)
}

/// Reads a RecordIO body record by record.
pub struct Records {
    pub body: Incoming,
    decoder: RecordIoDecoder,
    ready: std::collections::VecDeque<Bytes>,
}

/// What the next read found.
#[derive(Debug, PartialEq)]
pub enum Next {
    Record(Bytes),
    End,
    Timeout,
}

impl Records {
    pub fn new(body: Incoming) -> Self {
        Records {
            body,
            decoder: RecordIoDecoder::new(1 << 20),
            ready: Default::default(),
        }
    }

    pub async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Next::Record(record);
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Timeout,
                Ok(None) => {
                    self.decoder.finish().unwrap();
                    return Next::End;
                }
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.ready.extend(self.decoder.feed(&data).unwrap());
                    }
                }
            }
        }
    }

    pub async fn record(&mut self, wait: Duration) -> Bytes {
        match self.next(wait).await {
            Next::Record(record) => record,
            other => panic!("expected a record, got {other:?}"),
        }
    }
}

/// A leadership the test sets by hand.
pub struct Switch(pub std::sync::Mutex<LeaderStatus>);

impl Leadership for Switch {
    fn status(&self) -> LeaderStatus {
        self.0.lock().unwrap().clone()
    }
}
