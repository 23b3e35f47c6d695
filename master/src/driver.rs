//! The IO around the core: one tokio task owns the [`MasterCore`] and is the only
//! thing that touches it. HTTP handlers send it [`Command`]s and await a oneshot
//! reply; it turns the core's outputs into events on each stream's sender, notices
//! streams whose client went away, and ticks the core when it asks for it.

use std::collections::HashMap;

use ratufa_proto::v1::FrameworkId;
use ratufa_proto::v1::scheduler::{Event, call};
use tokio::sync::mpsc::{self, UnboundedSender, WeakSender};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::core::{
    ConnectionId, FrameworkCall, MasterCore, Output, Rejection, Reply, SubscribeOutcome, Time,
};

/// How many commands may wait for the driver before handlers wait to send. Each HTTP
/// request holds at most one, so this bounds memory, not concurrency.
pub const COMMAND_QUEUE: usize = 4096;

/// A request to the driver task.
#[derive(Debug)]
pub enum Command {
    Subscribe {
        subscribe: call::Subscribe,
        principal: Option<String>,
        stream_id: String,
        /// The stream's sender; dropping it ends the response body.
        events: UnboundedSender<Event>,
        reply: oneshot::Sender<SubscribeOutcome>,
    },
    Call {
        framework_id: FrameworkId,
        call: FrameworkCall,
        principal: Option<String>,
        stream_id: Option<String>,
        reply: oneshot::Sender<Result<Reply, Rejection>>,
    },
    /// The client of stream `ConnectionId` went away (sent by the stream's watcher).
    StreamClosed(ConnectionId),
    /// Close every stream and stop.
    Shutdown,
}

/// An open stream: its sender, and the handle that stops its watcher. Dropping this
/// drops both, which is what closes the stream.
struct Stream {
    events: UnboundedSender<Event>,
    _stop_watcher: oneshot::Sender<()>,
}

pub struct Driver {
    core: MasterCore,
    commands: mpsc::Receiver<Command>,
    /// Given to watchers so that they can report closed streams without keeping the
    /// command channel (and so the driver) alive.
    weak_commands: WeakSender<Command>,
    streams: HashMap<ConnectionId, Stream>,
    next_conn: u64,
    /// The origin of the core's [`Time`].
    origin: Instant,
}

impl Driver {
    /// A driver for `core`, and the sender that feeds it.
    pub fn new(core: MasterCore) -> (Driver, mpsc::Sender<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let driver = Driver {
            core,
            commands: rx,
            weak_commands: tx.downgrade(),
            streams: HashMap::new(),
            next_conn: 0,
            origin: Instant::now(),
        };
        (driver, tx)
    }

    fn now(&self) -> Time {
        Time::from_origin(Instant::now().saturating_duration_since(self.origin))
    }

    fn instant(&self, time: Time) -> Option<Instant> {
        self.origin.checked_add(time.since_origin())
    }

    /// Runs until [`Command::Shutdown`] or until every sender is gone.
    pub async fn run(mut self) {
        info!(master_id = %self.core.master_info().id, "master driver started");
        loop {
            let wake = self.core.poll_timeout().and_then(|t| self.instant(t));
            let command = tokio::select! {
                command = self.commands.recv() => command,
                () = sleep_until(wake) => {
                    let now = self.now();
                    self.core.handle_tick(now);
                    self.flush();
                    continue;
                }
            };
            match command {
                None | Some(Command::Shutdown) => break,
                Some(command) => self.handle(command),
            }
            self.flush();
        }
        // Dropping the streams ends every response body, so a graceful HTTP shutdown
        // is not held up by subscriptions that would otherwise never finish.
        info!(streams = self.streams.len(), "master driver stopping");
        self.streams.clear();
    }

    fn handle(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Subscribe {
                subscribe,
                principal,
                stream_id,
                events,
                reply,
            } => {
                let conn = ConnectionId(self.next_conn);
                self.next_conn += 1;
                self.open_stream(conn, events);
                let outcome = self.core.handle_subscribe(
                    now,
                    conn,
                    stream_id,
                    principal.as_deref(),
                    subscribe,
                );
                // The handler may have given up (client gone); the stream's watcher
                // reports that on its own.
                let _ = reply.send(outcome);
            }
            Command::Call {
                framework_id,
                call,
                principal,
                stream_id,
                reply,
            } => {
                debug!(framework_id = %framework_id.value, call = call.type_name(), "call");
                let result = self.core.handle_call(
                    now,
                    &framework_id,
                    call,
                    principal.as_deref(),
                    stream_id.as_deref(),
                );
                let _ = reply.send(result);
            }
            Command::StreamClosed(conn) => {
                if self.streams.remove(&conn).is_some() {
                    debug!(%conn, "subscriber went away");
                    self.core.handle_stream_closed(now, conn);
                }
            }
            Command::Shutdown => {}
        }
    }

    /// Registers a stream and starts its watcher, which reports the client leaving.
    fn open_stream(&mut self, conn: ConnectionId, events: UnboundedSender<Event>) {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let watched = events.clone();
        let commands = self.weak_commands.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = watched.closed() => {
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(Command::StreamClosed(conn)).await;
                    }
                }
                // The driver closed the stream (or stopped): nothing to report. Either
                // way `watched` is dropped here, which the stream needs to end.
                _ = stop_rx => {}
            }
        });
        self.streams.insert(
            conn,
            Stream {
                events,
                _stop_watcher: stop_tx,
            },
        );
    }

    /// Carries out everything the core asked for.
    fn flush(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Event { conn, event } => {
                    if let Some(stream) = self.streams.get(&conn) {
                        // A failed send means the client is gone; the watcher reports it.
                        let _ = stream.events.send(event);
                    }
                }
                Output::Close { conn } => {
                    self.streams.remove(&conn);
                }
                // Agent-link streams are not served by this driver yet.
                Output::AgentCommand { .. } => {}
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
