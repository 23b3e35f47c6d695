//! The agent's calls to the master on one stream: sent one at a time, in the order
//! they were made, from a task of their own so that a slow master never stalls the
//! agent loop. Status updates that queue up while a call is out travel together in
//! the next one (STATUS_UPDATES): at hundreds of tasks a second the agent would
//! otherwise make one request per update, three per task.
//!
//! Nothing here retries: a lost update is resent by the status-update manager's
//! timer, as before, whether it went alone or in a batch.

use prost::Message;
use ratufa_proto::ratufa::agentlink::{Call, call};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use super::MasterLink;
use crate::AgentError;

/// At most this many bytes of updates go in one call, well below the master's
/// request limit (8 MiB by default); an update larger than this still goes, alone.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The calls for one agent-link stream. Dropping it stops sending (the stream is
/// gone; whatever was queued is for the status-update manager to resend).
#[derive(Debug)]
pub(crate) struct Outbox {
    calls: mpsc::UnboundedSender<Call>,
    sender: JoinHandle<()>,
}

impl Outbox {
    /// Sends on `stream_id` through `link`. `refused` hears the body of a 403 (the
    /// master no longer takes this stream), after which nothing more is sent.
    pub(crate) fn start(
        link: MasterLink,
        stream_id: String,
        refused: impl FnOnce(String) + Send + 'static,
    ) -> Outbox {
        let (calls, queued) = mpsc::unbounded_channel();
        let sender = tokio::spawn(deliver(link, stream_id, queued, refused));
        Outbox { calls, sender }
    }

    pub(crate) fn send(&self, call: Call) {
        // The sender only ends on a 403, after which the link is dropped anyway.
        let _ = self.calls.send(call);
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

async fn deliver(
    link: MasterLink,
    stream_id: String,
    mut queued: mpsc::UnboundedReceiver<Call>,
    refused: impl FnOnce(String),
) {
    let mut calls = Vec::new();
    while let Some(first) = queued.recv().await {
        calls.push(first);
        while let Ok(more) = queued.try_recv() {
            calls.push(more);
        }
        for call in batch(std::mem::take(&mut calls)) {
            match link.call(&call, &stream_id).await {
                Ok(()) => {}
                Err(AgentError::Refused { status: 403, body }) => {
                    refused(body);
                    return;
                }
                Err(e) => debug!(error = %e, "agent call failed; a retry will follow"),
            }
        }
    }
}

/// `calls` as they go out: each run of adjacent STATUS_UPDATE calls becomes one
/// STATUS_UPDATES call holding their updates in order (up to [`MAX_BATCH_BYTES`]
/// each); a run of one stays a STATUS_UPDATE, and every other call keeps its place.
pub(crate) fn batch(calls: Vec<Call>) -> Vec<Call> {
    let mut out = Vec::with_capacity(calls.len());
    let mut run: Vec<Call> = Vec::new();
    let mut run_bytes = 0;
    for call in calls {
        let update_bytes = match (&call.status_update, call.r#type) {
            (Some(update), Some(t)) if t == call::Type::StatusUpdate as i32 => update.encoded_len(),
            _ => {
                flush(&mut run, &mut out);
                out.push(call);
                continue;
            }
        };
        if !run.is_empty() && run_bytes + update_bytes > MAX_BATCH_BYTES {
            flush(&mut run, &mut out);
        }
        if run.is_empty() {
            run_bytes = 0;
        }
        run_bytes += update_bytes;
        run.push(call);
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut Vec<Call>, out: &mut Vec<Call>) {
    if run.len() <= 1 {
        out.append(run);
        return;
    }
    let agent_id = run[0].agent_id.clone();
    out.push(Call {
        r#type: Some(call::Type::StatusUpdates as i32),
        agent_id,
        status_updates: run.drain(..).filter_map(|c| c.status_update).collect(),
        ..Call::default()
    });
}

#[cfg(test)]
mod tests {
    use ratufa_proto::v1::{AgentId, FrameworkId, TaskId, TaskStatus};

    use super::*;

    fn update(task: &str, data_bytes: usize) -> Call {
        Call {
            r#type: Some(call::Type::StatusUpdate as i32),
            agent_id: Some(AgentId { value: "a1".into() }),
            status_update: Some(call::StatusUpdate {
                framework_id: FrameworkId { value: "f".into() },
                status: TaskStatus {
                    task_id: TaskId { value: task.into() },
                    data: (data_bytes > 0).then(|| vec![7; data_bytes]),
                    ..TaskStatus::default()
                },
                latest_state: None,
            }),
            ..Call::default()
        }
    }

    fn pong() -> Call {
        Call {
            r#type: Some(call::Type::Pong as i32),
            agent_id: Some(AgentId { value: "a1".into() }),
            ..Call::default()
        }
    }

    /// What each call carries: ("update", tasks) or ("pong", []).
    fn shape(calls: &[Call]) -> Vec<(&'static str, Vec<String>)> {
        let tasks = |updates: &[call::StatusUpdate]| {
            updates
                .iter()
                .map(|u| u.status.task_id.value.clone())
                .collect()
        };
        calls
            .iter()
            .map(
                |c| match c.r#type.and_then(|t| call::Type::try_from(t).ok()) {
                    Some(call::Type::StatusUpdate) => ("update", tasks(c.status_update.as_slice())),
                    Some(call::Type::StatusUpdates) => {
                        assert_eq!(c.agent_id.as_ref().map(|a| a.value.as_str()), Some("a1"));
                        assert!(c.status_update.is_none());
                        ("updates", tasks(&c.status_updates))
                    }
                    Some(call::Type::Pong) => ("pong", vec![]),
                    other => panic!("unexpected call {other:?}"),
                },
            )
            .collect()
    }

    fn names(tasks: &[&str]) -> Vec<String> {
        tasks.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn adjacent_updates_go_together_in_order_and_other_calls_keep_their_place() {
        let calls = vec![
            update("t1", 0),
            update("t2", 0),
            update("t1", 0),
            pong(),
            update("t3", 0),
            pong(),
            update("t4", 0),
            update("t5", 0),
        ];
        assert_eq!(
            shape(&batch(calls)),
            vec![
                ("updates", names(&["t1", "t2", "t1"])),
                ("pong", vec![]),
                ("update", names(&["t3"])),
                ("pong", vec![]),
                ("updates", names(&["t4", "t5"])),
            ]
        );
        assert!(batch(Vec::new()).is_empty());
    }

    #[test]
    fn a_batch_stops_at_its_byte_limit_and_a_large_update_goes_alone() {
        let half = MAX_BATCH_BYTES / 2;
        let calls = vec![
            update("t1", half - 100),
            update("t2", half - 100),
            update("t3", half - 100),
            update("big", MAX_BATCH_BYTES + 1),
            update("t4", 10),
        ];
        let out = batch(calls);
        assert_eq!(
            shape(&out),
            vec![
                ("updates", names(&["t1", "t2"])),
                ("update", names(&["t3"])),
                ("update", names(&["big"])),
                ("update", names(&["t4"])),
            ]
        );
        assert!(out[0].encoded_len() <= MAX_BATCH_BYTES + 64);
    }
}
