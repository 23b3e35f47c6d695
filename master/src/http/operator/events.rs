//! SUBSCRIBE on the operator API: SUBSCRIBED with the whole state, then every change
//! as the core reports it, with HEARTBEATs between.

use axum::http::StatusCode;
use axum::response::Response as HttpResponse;
use ratufa_gateway::{ApiError, Heartbeat};
use ratufa_proto::Encoding;
use ratufa_proto::v1::FrameworkId;
use ratufa_proto::v1::master::{Event, event};
use tokio::sync::mpsc;

use super::super::scheduler::stopped;
use super::super::state::Clock;
use super::{parts, views};
use crate::MasterHandle;
use crate::core::OperatorEvent;

/// Opens the stream. The core starts queueing events for it at the moment of the
/// state SUBSCRIBED carries, so nothing between the two is lost or seen twice.
pub(super) async fn subscribe(
    master: MasterHandle,
    encoding: Encoding,
) -> Result<HttpResponse, ApiError> {
    // As Mesos: a bounded number of streams, the rest refused until one ends.
    let slot = master.operator_subscriber_slot().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Maximum number of subscribers to the operator event stream ({}) reached \
                 (--max_operator_event_stream_subscribers)",
                master.max_operator_subscribers()
            ),
        )
    })?;
    let (changes, mut changed) = mpsc::unbounded_channel::<OperatorEvent>();
    let snapshot = master.operator_subscribe(changes).await.map_err(stopped)?;
    let heartbeat_interval = master.heartbeat_interval();
    let clock = Clock::of(&snapshot);
    let interval = heartbeat_interval.as_secs_f64();
    // Written straight from the snapshot, off the async workers (see `parts`).
    let subscribed =
        tokio::task::spawn_blocking(move || parts::subscribed(&snapshot, interval, encoding))
            .await
            .map_err(|e| ApiError::internal(format!("writing the state failed: {e}")))?
            .map_err(|why| ApiError::internal(format!("writing the state failed: {why}")))?;
    let (events, receiver) = mpsc::unbounded_channel::<Event>();
    // Turns the core's changes into events until the client goes away; dropping
    // `changed` then tells the driver to stop queueing for this stream.
    tokio::spawn(async move {
        // The stream counts until its client goes away.
        let _slot = slot;
        loop {
            tokio::select! {
                change = changed.recv() => {
                    let Some(change) = change else { break };
                    if events.send(to_event(&clock, change)).is_err() {
                        break;
                    }
                }
                () = events.closed() => break,
            }
        }
    });
    Ok(ratufa_gateway::event_stream_after(
        encoding,
        None,
        subscribed,
        receiver,
        Some(Heartbeat {
            interval: heartbeat_interval,
            event: Event {
                r#type: Some(event::Type::Heartbeat as i32),
                ..Event::default()
            },
        }),
    ))
}

fn to_event(clock: &Clock, change: OperatorEvent) -> Event {
    let mut out = Event::default();
    let r#type = match change {
        OperatorEvent::TaskAdded(task) => {
            out.task_added = Some(event::TaskAdded { task: *task });
            event::Type::TaskAdded
        }
        OperatorEvent::TaskUpdated {
            framework_id,
            status,
            state,
        } => {
            out.task_updated = Some(event::TaskUpdated {
                framework_id: FrameworkId {
                    value: framework_id,
                },
                status: *status,
                state: state as i32,
            });
            event::Type::TaskUpdated
        }
        OperatorEvent::AgentAdded(agent) => {
            out.agent_added = Some(event::AgentAdded {
                agent: views::agent(clock, &agent),
            });
            event::Type::AgentAdded
        }
        OperatorEvent::AgentRemoved(agent_id) => {
            out.agent_removed = Some(event::AgentRemoved {
                agent_id: ratufa_proto::v1::AgentId { value: agent_id },
            });
            event::Type::AgentRemoved
        }
        OperatorEvent::FrameworkAdded(framework) => {
            out.framework_added = Some(event::FrameworkAdded {
                framework: views::framework(clock, &framework),
            });
            event::Type::FrameworkAdded
        }
        OperatorEvent::FrameworkUpdated(framework) => {
            out.framework_updated = Some(event::FrameworkUpdated {
                framework: views::framework(clock, &framework),
            });
            event::Type::FrameworkUpdated
        }
        OperatorEvent::FrameworkRemoved(framework_info) => {
            out.framework_removed = Some(event::FrameworkRemoved {
                framework_info: *framework_info,
            });
            event::Type::FrameworkRemoved
        }
    };
    out.r#type = Some(r#type as i32);
    out
}
