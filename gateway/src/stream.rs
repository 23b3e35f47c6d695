//! Event streams: the response to a SUBSCRIBE, held open as a chunked body of RecordIO
//! records, one event each, with heartbeats between.
//!
//! The producer (master or agent core) owns the `UnboundedSender`; this module owns the
//! receiver, inside the response body. That gives two signals for free:
//! - the producer drops its sender → queued events are written, then the body ends
//!   with the terminating chunk (how a stream is closed after an ERROR event, or on
//!   failover);
//! - the client goes away → hyper drops the body, and with it the receiver, so
//!   `UnboundedSender::closed()` resolves and `send` fails. **This is how a disconnect
//!   is detected**: the producer watches `closed()` (or a failing `send`) and treats it
//!   as the framework's stream being lost. hyper notices a vanished client when it
//!   next reads or writes the connection; heartbeats guarantee a write at least every
//!   interval, which bounds how late the disconnect is seen.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use ratufa_proto::{Encoding, MesosMessage};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::{ApiError, MESOS_STREAM_ID, recordio};

/// A fresh stream id: a random UUID v4, as Mesos hands out.
pub fn new_stream_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What to send to keep a quiet stream alive, and how often.
#[derive(Debug, Clone)]
pub struct Heartbeat<M> {
    pub interval: Duration,
    pub event: M,
}

/// Chunks are cut at about this size when several events are queued at once, so a
/// burst costs few writes without one chunk growing without bound.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Under a steady flow of events, a stream writes at most once per this window: the
/// events that come within it of the last write go out together in the next. Each
/// write on a socket costs its sender the whole TCP path and its reader a wake-up;
/// at 1,500 tasks a second through one agent, writing each of the framework's
/// updates, the executor's acknowledgements and the agent's commands on its own was
/// about 9 writes per task (BENCHMARKS.md agent_launch). An event after a quiet spell
/// (none written for this long) goes out at once.
const COALESCE_WINDOW: Duration = Duration::from_micros(500);

/// A first event given encoded goes out in slices of this size.
const FIRST_SLICE_BYTES: usize = 256 * 1024;

/// The streaming response for a subscription: 200, `Content-Type` of `encoding`,
/// `Mesos-Stream-Id` when given, and a chunked body of RecordIO records.
///
/// Heartbeats, when asked for, follow the stream's first event at once (that event is
/// SUBSCRIBED) and then come every `interval` for as long as the stream lives.
///
/// The queue may hold the messages themselves or boxes of them (`E = Box<M>`): a
/// large message type makes every queue cost its block of slots (32 × the type's
/// size) the moment it is created, which for an agent link's commands is 169 KB per
/// agent, where boxes cost 256 bytes.
pub fn event_stream<M: MesosMessage, E: Borrow<M> + Send + 'static>(
    encoding: Encoding,
    stream_id: Option<String>,
    events: UnboundedReceiver<E>,
    heartbeat: Option<Heartbeat<M>>,
) -> Response {
    open_stream(encoding, stream_id, VecDeque::new(), events, heartbeat)
}

/// [`event_stream`] whose first event (SUBSCRIBED) comes already encoded in
/// `encoding`: one too large to build as a message first (an operator's SUBSCRIBED
/// holds the whole cluster's state). The queued events follow it.
pub fn event_stream_after<M: MesosMessage, E: Borrow<M> + Send + 'static>(
    encoding: Encoding,
    stream_id: Option<String>,
    first: Vec<u8>,
    events: UnboundedReceiver<E>,
    heartbeat: Option<Heartbeat<M>>,
) -> Response {
    if first.is_empty() {
        // As `encode_event`: an empty record would break every Mesos client.
        return ApiError::internal("the first event encodes to zero bytes").into_response();
    }
    // The header, then the record in slices of it (no copy): hyper copies each chunk
    // into its write buffer, and a chunk of the whole record would be copied whole.
    let mut chunks = VecDeque::from([recordio::header(first.len())]);
    let record = Bytes::from(first);
    let mut start = 0;
    while start < record.len() {
        let end = record.len().min(start + FIRST_SLICE_BYTES);
        chunks.push_back(record.slice(start..end));
        start = end;
    }
    open_stream(encoding, stream_id, chunks, events, heartbeat)
}

fn open_stream<M: MesosMessage, E: Borrow<M> + Send + 'static>(
    encoding: Encoding,
    stream_id: Option<String>,
    first: VecDeque<Bytes>,
    events: UnboundedReceiver<E>,
    heartbeat: Option<Heartbeat<M>>,
) -> Response {
    let stream_id_header = match stream_id.as_deref().map(HeaderValue::from_str) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return ApiError::internal(format!(
                "Stream id {stream_id:?} is not a valid header value"
            ))
            .into_response();
        }
    };

    let heartbeat = heartbeat.and_then(|hb| {
        let frame = encode_event(encoding, &hb.event)?;
        Some((hb.interval, frame))
    });
    let state = EventStream {
        encoding,
        stream_id: stream_id.clone(),
        events,
        heartbeat,
        ticker: None,
        first,
        first_sent: false,
        last_write: None,
        message: std::marker::PhantomData,
    };
    tracing::debug!(
        stream_id = stream_id.as_deref(),
        ?encoding,
        "event stream opened"
    );

    let body = Body::from_stream(futures::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), state))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.media_type()),
    );
    if let Some(value) = stream_id_header {
        headers.insert(MESOS_STREAM_ID, value);
    }
    response
}

/// One event, framed. `None` (and an error in the log) if it encodes to nothing: an
/// empty record would break every Mesos client, so we never send one.
fn encode_event<M: MesosMessage>(encoding: Encoding, event: &M) -> Option<Bytes> {
    let bytes = encoding.encode(event);
    if bytes.is_empty() {
        tracing::error!(
            message_type = M::NAME,
            ?encoding,
            "event encodes to zero bytes; not sent"
        );
        return None;
    }
    Some(recordio::frame(&bytes))
}

struct EventStream<M, E> {
    encoding: Encoding,
    stream_id: Option<String>,
    events: UnboundedReceiver<E>,
    /// The interval and the pre-framed heartbeat record.
    heartbeat: Option<(Duration, Bytes)>,
    /// Started once the first event is out.
    ticker: Option<Interval>,
    /// A first event given already framed, in chunks sent before any queued event.
    first: VecDeque<Bytes>,
    first_sent: bool,
    /// When the last chunk of events went out (see [`COALESCE_WINDOW`]).
    last_write: Option<Instant>,
    message: std::marker::PhantomData<fn() -> M>,
}

impl<M: MesosMessage, E: Borrow<M>> EventStream<M, E> {
    /// The next chunk to write, or `None` once the producer is gone and its queue is
    /// drained (which ends the body).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.first.pop_front() {
            if self.first.is_empty() && !self.first_sent {
                self.first_sent = true;
                if let Some(heartbeat) = self.follow_first() {
                    self.first.push_back(heartbeat);
                }
            }
            return Some(chunk);
        }
        loop {
            let Self { events, ticker, .. } = self;
            let tick = async {
                match ticker {
                    Some(ticker) => {
                        ticker.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            // Heartbeats first: a steady flow of events must not starve them, since
            // clients count missed heartbeats, not events.
            let event = tokio::select! {
                biased;
                () = tick => return self.heartbeat.as_ref().map(|(_, frame)| frame.clone()),
                event = events.recv() => event?,
            };

            let mut chunk = BytesMut::new();
            self.append(&mut chunk, &event);
            if !self.first_sent {
                self.first_sent = true;
                if let Some(heartbeat) = self.follow_first() {
                    chunk.extend_from_slice(&heartbeat);
                }
            } else {
                // Whatever else is already queued goes out in the same write, and
                // under a steady flow whatever comes until the window closes.
                self.take_queued(&mut chunk);
                let window_end = self.last_write.map(|at| at + COALESCE_WINDOW);
                while let Some(end) = window_end.filter(|_| chunk.len() < MAX_BATCH_BYTES) {
                    let event = tokio::select! {
                        event = self.events.recv() => event,
                        () = tokio::time::sleep_until(end) => None,
                    };
                    // The producer gone: what is in hand goes out, the end comes next.
                    let Some(event) = event else { break };
                    self.append(&mut chunk, &event);
                    self.take_queued(&mut chunk);
                }
            }
            if !chunk.is_empty() {
                self.last_write = Some(Instant::now());
                return Some(chunk.freeze());
            }
        }
    }

    /// Appends the events already queued, up to the batch size.
    fn take_queued(&mut self, chunk: &mut BytesMut) {
        while chunk.len() < MAX_BATCH_BYTES {
            let Ok(event) = self.events.try_recv() else {
                break;
            };
            self.append(chunk, &event);
        }
    }

    /// Appends `event`'s record (nothing for one that encodes to nothing).
    fn append(&self, chunk: &mut BytesMut, event: &E) {
        if let Some(frame) = encode_event::<M>(self.encoding, event.borrow()) {
            chunk.extend_from_slice(&frame);
        }
    }
}

impl<M, E> EventStream<M, E> {
    /// The first event is SUBSCRIBED; a heartbeat follows it at once so the client
    /// sees the rhythm begin: the heartbeat to send, if any, with the ticker started.
    fn follow_first(&mut self) -> Option<Bytes> {
        let (interval, frame) = self.heartbeat.as_ref()?;
        self.ticker = start_ticker(*interval);
        Some(frame.clone())
    }
}

fn start_ticker(interval: Duration) -> Option<Interval> {
    if interval.is_zero() {
        // tokio refuses a zero period; a zero interval is a caller bug, and the stream
        // is better without periodic heartbeats than dead.
        tracing::error!("heartbeat interval is zero; periodic heartbeats disabled");
        return None;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    // After a stall, one heartbeat and back to the rhythm, not a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Some(ticker)
}

impl<M, E> Drop for EventStream<M, E> {
    fn drop(&mut self) {
        // Dropped when the body ends or when hyper gives up on the connection; either
        // way the producer now sees its sender closed.
        tracing::debug!(stream_id = self.stream_id.as_deref(), "event stream closed");
    }
}

#[cfg(test)]
mod tests;
