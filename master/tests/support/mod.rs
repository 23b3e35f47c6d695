//! A master served on 127.0.0.1:0 and a plain hyper client speaking to it.

#![allow(dead_code)]
// each test binary uses a different subset
// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ratufa_gateway::RecordIoDecoder;
use ratufa_master::{MasterConfig, serve};
use ratufa_proto::Encoding;
use ratufa_proto::v1::scheduler::{Call, Event, call, event};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Master {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), ratufa_master::MasterError>>,
}

impl Master {
    pub async fn start(config: MasterConfig) -> Master {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, listener, async move {
            let _ = stopped.await;
        }));
        Master {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), ratufa_master::MasterError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap()
    }

    /// Sends one request on a fresh connection.
    pub async fn request(&self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender.send_request(request).await.unwrap()
    }

    pub async fn post_call(
        &self,
        encoding: Encoding,
        call: &Call,
        stream_id: Option<&str>,
    ) -> Response<Incoming> {
        let mut builder = Request::post("/api/v1/scheduler")
            .header("Host", self.addr.to_string())
            .header("Content-Type", encoding.media_type())
            .header("Accept", encoding.media_type());
        if let Some(stream_id) = stream_id {
            builder = builder.header("Mesos-Stream-Id", stream_id);
        }
        self.request(
            builder
                .body(Full::new(Bytes::from(encoding.encode(call))))
                .unwrap(),
        )
        .await
    }

    /// SUBSCRIBEs and returns the open stream.
    pub async fn subscribe(&self, encoding: Encoding, info: FrameworkInfo) -> Stream {
        let call = subscribe_call(info);
        let response = self.post_call(encoding, &call, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        Stream::new(encoding, response)
    }
}

pub fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..call::Subscribe::default()
        }),
        ..Call::default()
    }
}

pub fn framework_call(id: &FrameworkId, t: call::Type) -> Call {
    Call {
        framework_id: Some(id.clone()),
        r#type: Some(t as i32),
        ..Call::default()
    }
}

pub fn info(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "alice".into(),
        name: name.into(),
        ..FrameworkInfo::default()
    }
}

pub async fn body_text(response: Response<Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// An open SUBSCRIBE response, read event by event.
pub struct Stream {
    pub encoding: Encoding,
    pub stream_id: String,
    pub content_type: String,
    body: Incoming,
    decoder: RecordIoDecoder,
    ready: VecDeque<Bytes>,
}

impl Stream {
    pub fn new(encoding: Encoding, response: Response<Incoming>) -> Stream {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let stream_id = header("Mesos-Stream-Id");
        let content_type = header("Content-Type");
        Stream {
            encoding,
            stream_id,
            content_type,
            body: response.into_body(),
            decoder: RecordIoDecoder::new(1 << 20),
            ready: VecDeque::new(),
        }
    }

    /// The next raw record, or `None` when the stream ended.
    pub async fn next_record(&mut self) -> Option<Bytes> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(record);
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("no event within the wait");
            let frame = frame?.expect("body error");
            if let Ok(data) = frame.into_data() {
                self.ready
                    .extend(self.decoder.feed(&data).expect("bad RecordIO"));
            }
        }
    }

    pub async fn next_event(&mut self) -> Option<Event> {
        let record = self.next_record().await?;
        Some(
            self.encoding
                .decode::<Event>(&record)
                .expect("undecodable event"),
        )
    }

    pub async fn expect(&mut self, t: event::Type) -> Event {
        let event = self.next_event().await.expect("stream ended");
        assert_eq!(event.r#type, Some(t as i32), "{event:?}");
        event
    }

    pub async fn expect_subscribed(&mut self) -> FrameworkId {
        let event = self.expect(event::Type::Subscribed).await;
        event.subscribed.expect("no subscribed").framework_id
    }

    pub async fn expect_error(&mut self) -> String {
        let event = self.expect(event::Type::Error).await;
        event.error.expect("no error").message
    }

    pub async fn expect_end(&mut self) {
        if let Some(event) = self.next_event().await {
            panic!("expected the stream to end, got {event:?}");
        }
    }
}
