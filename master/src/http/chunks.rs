//! Large response bodies (the state documents, the operator API's big reads) written
//! on a blocking thread into chunks that are handed to the response as they fill: the
//! client reads while the rest is written, and no copy of the whole body is held.

use axum::body::Body;
use tokio::sync::mpsc;

/// How much is written before it is handed to the response.
const CHUNK: usize = 256 * 1024;

/// Where a chunk goes: the response body. An error cuts the body short.
pub(super) type Sink = mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

/// The body being written: `buf` is appended to, and [`Chunks::boundary`] called
/// between elements sends it once a chunk's worth is there.
pub(super) struct Chunks {
    pub(super) buf: Vec<u8>,
    sink: Option<Sink>,
    gone: bool,
}

impl Chunks {
    /// Chunks that are kept rather than sent: the whole body, for [`Chunks::into_bytes`].
    pub(super) fn whole() -> Chunks {
        Chunks::whole_with_capacity(0)
    }

    /// [`Chunks::whole`] for a body of `len` bytes.
    pub(super) fn whole_with_capacity(len: usize) -> Chunks {
        Chunks {
            buf: Vec::with_capacity(len),
            sink: None,
            gone: false,
        }
    }

    /// Chunks sent to `sink` (from a blocking thread).
    pub(super) fn streaming(sink: Sink) -> Chunks {
        Chunks {
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
            sink: Some(sink),
            gone: false,
        }
    }

    /// What was written and not sent.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Sends what was written once a chunk's worth is there. Returns false when the
    /// client is gone (nothing more need be written).
    pub(super) fn boundary(&mut self) -> bool {
        if self.gone {
            return false;
        }
        if self.buf.len() >= CHUNK
            && let Some(sink) = &self.sink
        {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + CHUNK / 4));
            if sink.blocking_send(Ok(chunk)).is_err() {
                self.gone = true;
                return false;
            }
        }
        true
    }

    /// Sends the rest.
    pub(super) fn finish(mut self) {
        if let Some(sink) = self.sink.take()
            && !self.gone
            && !self.buf.is_empty()
        {
            let _ = sink.blocking_send(Ok(std::mem::take(&mut self.buf)));
        }
    }

    /// Ends the body short with `error` instead of the rest: the client sees a broken
    /// response rather than a well-formed wrong one.
    pub(super) fn fail(mut self, error: &str) {
        tracing::error!(error, "writing a response body failed; it was cut short");
        if let Some(sink) = self.sink.take() {
            let _ = sink.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    }
}

/// A response body that `write` produces on a blocking thread (which must hold up
/// neither the core nor the async workers serving event streams), a few chunks
/// ahead of the client at most.
pub(super) fn stream_body(write: impl FnOnce(Sink) + Send + 'static) -> Body {
    let (sink, mut chunks) = mpsc::channel(4);
    let writing = tokio::task::spawn_blocking(move || write(sink));
    // The status is sent before the body is done: a writer that failed can only cut
    // the body short, and says so here.
    tokio::spawn(async move {
        if let Err(e) = writing.await {
            tracing::error!(error = %e, "writing a response body failed; it was cut short");
        }
    });
    Body::from_stream(futures::stream::poll_fn(move |cx| chunks.poll_recv(cx)))
}
