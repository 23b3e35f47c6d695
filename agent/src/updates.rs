//! The status-update manager: every update a task produces reaches the master at least
//! once, in order, one at a time per task.
//!
//! Pure state, time passed in (as the master core does it): the agent loop pushes
//! updates, hands over the master's ACKNOWLEDGE commands, and asks
//! [`StatusUpdates::due`] what to send now and [`StatusUpdates::next_retry`] when to
//! ask again. Only the head of a task's queue is ever in flight; it is resent after
//! 10 s, then 20 s, … up to 10 min, until acknowledged, and only then does the next one
//! go. Acknowledging a terminal update ends the task's stream.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ratufa_proto::v1::{FrameworkId, TaskState, TaskStatus};

use crate::config::{STATUS_UPDATE_RETRY_MAX, STATUS_UPDATE_RETRY_MIN};

/// A task, as status updates are keyed (task ids are unique within a framework only).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey {
    pub framework_id: String,
    pub task_id: String,
}

/// One update to send now: the status, and the newest state queued behind it (Mesos's
/// `latest_state`, set when the master is being told about an older update).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub framework_id: FrameworkId,
    pub status: TaskStatus,
    pub latest_state: Option<i32>,
}

/// What an ACKNOWLEDGE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// It acknowledged the update in flight; the next one (if any) is due now.
    Next,
    /// It acknowledged the task's terminal update: the task's stream is gone.
    Terminal,
    /// It named no update in flight (a duplicate, or an old retry's ack): ignored.
    Ignored,
}

#[derive(Debug)]
struct Stream {
    framework_id: FrameworkId,
    pending: VecDeque<TaskStatus>,
    /// When the head was last sent and when it is due again; `None` while unsent.
    in_flight: Option<Retry>,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    due: Instant,
    backoff: Duration,
}

#[derive(Debug)]
pub struct StatusUpdates {
    streams: BTreeMap<TaskKey, Stream>,
    min: Duration,
    max: Duration,
}

impl Default for StatusUpdates {
    fn default() -> Self {
        StatusUpdates::new(STATUS_UPDATE_RETRY_MIN, STATUS_UPDATE_RETRY_MAX)
    }
}

impl StatusUpdates {
    /// A manager that retries after `min`, doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> StatusUpdates {
        StatusUpdates {
            streams: BTreeMap::new(),
            min,
            max: max.max(min),
        }
    }

    /// Queues `status` (which must carry a uuid) behind the task's earlier updates.
    pub fn push(&mut self, framework_id: FrameworkId, status: TaskStatus) {
        let key = TaskKey {
            framework_id: framework_id.value.clone(),
            task_id: status.task_id.value.clone(),
        };
        self.streams
            .entry(key)
            .or_insert_with(|| Stream {
                framework_id,
                pending: VecDeque::new(),
                in_flight: None,
            })
            .pending
            .push_back(status);
    }

    /// The master relayed the framework's ACKNOWLEDGE of `uuid` for `key`.
    pub fn acknowledge(&mut self, key: &TaskKey, uuid: &[u8]) -> Acked {
        let Some(stream) = self.streams.get_mut(key) else {
            return Acked::Ignored;
        };
        let matches = stream.in_flight.is_some()
            && stream
                .pending
                .front()
                .is_some_and(|head| head.uuid.as_deref() == Some(uuid));
        if !matches {
            return Acked::Ignored;
        }
        let acked = stream.pending.pop_front();
        stream.in_flight = None;
        let terminal = acked.as_ref().is_some_and(is_terminal);
        // Nothing follows a terminal update; an empty queue needs no stream either.
        if terminal || stream.pending.is_empty() {
            self.streams.remove(key);
        }
        if terminal {
            Acked::Terminal
        } else {
            Acked::Next
        }
    }

    /// The updates to send at `now`: heads never sent, and heads whose retry is due.
    /// Each is marked sent, with its next retry after the doubled backoff.
    pub fn due(&mut self, now: Instant) -> Vec<Outgoing> {
        let (min, max) = (self.min, self.max);
        let mut out = Vec::new();
        for stream in self.streams.values_mut() {
            let Some(head) = stream.pending.front() else {
                continue;
            };
            let backoff = match stream.in_flight {
                None => min,
                Some(retry) if retry.due <= now => (retry.backoff * 2).min(max),
                Some(_) => continue,
            };
            stream.in_flight = Some(Retry {
                due: now + backoff,
                backoff,
            });
            let latest_state = (stream.pending.len() > 1)
                .then(|| stream.pending.back().map(|s| s.state))
                .flatten();
            out.push(Outgoing {
                framework_id: stream.framework_id.clone(),
                status: head.clone(),
                latest_state,
            });
        }
        out
    }

    /// The link to the master came back: every update in flight is resent at the next
    /// [`due`](Self::due) with its backoff started afresh, rather than waiting out a
    /// retry timer that ran while nobody could hear it.
    pub fn resend_all(&mut self) {
        for stream in self.streams.values_mut() {
            stream.in_flight = None;
        }
    }

    /// When [`due`](Self::due) next has something to send, if ever (unsent heads are
    /// due at once, which the caller learns from `due` itself).
    pub fn next_retry(&self) -> Option<Instant> {
        self.streams
            .values()
            .filter_map(|s| s.in_flight.map(|r| r.due))
            .min()
    }

    /// An update with this uuid is queued for the task (so an executor's resent
    /// update is not queued twice).
    pub fn knows(&self, key: &TaskKey, uuid: &[u8]) -> bool {
        self.streams.get(key).is_some_and(|stream| {
            stream
                .pending
                .iter()
                .any(|s| s.uuid.as_deref() == Some(uuid))
        })
    }

    /// The task has updates not yet acknowledged.
    pub fn has_pending(&self, key: &TaskKey) -> bool {
        self.streams.contains_key(key)
    }

    /// The oldest unacknowledged update of the task (what the master learns on
    /// re-registration as `status_update_state`/`status_update_uuid`).
    pub fn oldest_unacknowledged(&self, key: &TaskKey) -> Option<&TaskStatus> {
        self.streams.get(key).and_then(|s| s.pending.front())
    }

    /// Forgets a framework's streams (it was shut down: nobody will acknowledge them).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.streams
            .retain(|key, _| key.framework_id != framework_id);
    }

    pub fn len(&self) -> usize {
        self.streams.values().map(|s| s.pending.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

pub fn is_terminal(status: &TaskStatus) -> bool {
    is_terminal_state(status.state)
}

/// Mesos's terminal states (`protobuf::isTerminalState`), for a state as it comes
/// off the wire.
pub fn is_terminal_state(state: i32) -> bool {
    TaskState::try_from(state).is_ok_and(ratufa_proto::task_state::is_terminal)
}

#[cfg(test)]
mod tests;
