//! `/api/v1/executor`: the v1 executor HTTP API. This module checks what can be checked
//! without the agent's state (method, media types, the call's own fields) and hands the
//! rest to the agent loop, which owns the executors, over a channel; the loop answers
//! each call with a status.
//!
//! Status codes, as Mesos's agent: 503 while the agent recovers; 405 unless POST;
//! 400/415 for the body and `Content-Type`; 406 when SUBSCRIBE's `Accept` names
//! nothing we speak; 400 for a malformed call or an unknown framework or executor;
//! 403 "Executor is not subscribed"; 202 for UPDATE, MESSAGE and HEARTBEAT; 200 and
//! the event stream for SUBSCRIBE.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ratufa_gateway::{ApiError, DEFAULT_MAX_BODY_BYTES, Heartbeat, decode_call, event_stream};
use ratufa_proto::v1::executor::{Call, Event, call, event};
use ratufa_proto::v1::task_status::Source;
use ratufa_proto::v1::{TaskState, TaskStatus};
use tokio::sync::{mpsc, oneshot, watch};

use crate::executors::ExecutorKey;

/// How often a quiet executor stream carries a HEARTBEAT event.
pub const EXECUTOR_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// A call for the agent loop, with where its answer goes.
#[derive(Debug)]
pub(crate) enum ExecutorCall {
    Subscribe {
        key: ExecutorKey,
        subscribe: call::Subscribe,
        events: mpsc::UnboundedSender<Event>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    Update {
        key: ExecutorKey,
        status: Box<TaskStatus>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    Message {
        key: ExecutorKey,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
}

/// What the endpoint holds: the loop's inbox, and whether the agent is still
/// recovering.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorApi {
    pub calls: mpsc::UnboundedSender<ExecutorCall>,
    pub recovering: watch::Receiver<bool>,
}

pub(crate) async fn executor_api(
    State(api): State<ExecutorApi>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(api, method, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    api: ExecutorApi,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if *api.recovering.borrow() {
        return Err(ApiError::service_unavailable(
            "Agent has not finished recovery",
            Duration::from_secs(1),
        ));
    }
    let (_, call) = decode_call::<Call>(&method, &headers, body, DEFAULT_MAX_BODY_BYTES).await?;
    validate(&call).map_err(ApiError::bad_request)?;
    let key = ExecutorKey {
        framework_id: call.framework_id.value.clone(),
        executor_id: call.executor_id.value.clone(),
    };
    let kind = call
        .r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .unwrap_or(call::Type::Unknown);
    let (reply, answer) = oneshot::channel();
    match kind {
        call::Type::Subscribe => {
            let encoding = ratufa_gateway::response_encoding(&headers)?;
            let (events, stream) = mpsc::unbounded_channel();
            send(
                &api,
                ExecutorCall::Subscribe {
                    key,
                    subscribe: call.subscribe.unwrap_or_default(),
                    events,
                    reply,
                },
            )?;
            wait(answer).await?;
            let heartbeat = Heartbeat {
                interval: EXECUTOR_HEARTBEAT_INTERVAL,
                event: Event {
                    r#type: Some(event::Type::Heartbeat as i32),
                    ..Event::default()
                },
            };
            // No Mesos-Stream-Id on the executor API.
            Ok(event_stream(encoding, None, stream, Some(heartbeat)))
        }
        call::Type::Update => {
            let status = Box::new(call.update.map(|u| u.status).unwrap_or_default());
            send(&api, ExecutorCall::Update { key, status, reply })?;
            wait(answer).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        call::Type::Message => {
            let data = call.message.map(|m| m.data).unwrap_or_default();
            send(&api, ExecutorCall::Message { key, data, reply })?;
            wait(answer).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        call::Type::Heartbeat => Ok(StatusCode::ACCEPTED.into_response()),
        call::Type::Unknown => Err(ApiError::bad_request("Expecting 'type' to be present")),
    }
}

fn send(api: &ExecutorApi, call: ExecutorCall) -> Result<(), ApiError> {
    api.calls
        .send(call)
        .map_err(|_| ApiError::service_unavailable("The agent is stopping", Duration::from_secs(1)))
}

async fn wait(answer: oneshot::Receiver<Result<(), ApiError>>) -> Result<(), ApiError> {
    answer.await.map_err(|_| {
        ApiError::service_unavailable("The agent is stopping", Duration::from_secs(1))
    })?
}

/// Mesos's `validation::executor::call::validate`: what a call must hold whatever the
/// agent's state. Each message names the field at fault.
pub(crate) fn validate(call: &Call) -> Result<(), String> {
    if call.executor_id.value.is_empty() {
        return Err("Expecting 'executor_id' to be present".to_string());
    }
    if call.framework_id.value.is_empty() {
        return Err("Expecting 'framework_id' to be present".to_string());
    }
    let Some(kind) = call.r#type else {
        return Err("Expecting 'type' to be present".to_string());
    };
    match call::Type::try_from(kind) {
        Ok(call::Type::Subscribe) => {
            if call.subscribe.is_none() {
                return Err("Expecting 'subscribe' to be present".to_string());
            }
        }
        Ok(call::Type::Update) => {
            let Some(update) = &call.update else {
                return Err("Expecting 'update' to be present".to_string());
            };
            validate_status(&update.status, &call.executor_id.value)?;
        }
        Ok(call::Type::Message) => {
            if call.message.is_none() {
                return Err("Expecting 'message' to be present".to_string());
            }
        }
        Ok(call::Type::Heartbeat) => {}
        Ok(call::Type::Unknown) | Err(_) => {
            return Err(format!("Unknown call type {kind}"));
        }
    }
    Ok(())
}

fn validate_status(status: &TaskStatus, executor_id: &str) -> Result<(), String> {
    match status.uuid.as_deref() {
        None => return Err("Expecting 'uuid' to be present".to_string()),
        Some(uuid) => ratufa_proto::task_state::check_update_uuid(uuid)
            .map_err(|why| format!("Not a valid UUID in 'status.uuid': {why}"))?,
    }
    if status.task_id.value.is_empty() {
        return Err("Expecting 'status.task_id' to be present".to_string());
    }
    if status.source != Some(Source::Executor as i32) {
        return Err(format!(
            "Received Call from executor {executor_id} with 'status.source' other than \
             SOURCE_EXECUTOR"
        ));
    }
    if status.state == TaskState::TaskStaging as i32 {
        return Err(format!(
            "Received TASK_STAGING from executor {executor_id} which is not allowed"
        ));
    }
    if let Some(id) = &status.executor_id
        && id.value != executor_id
    {
        return Err(format!(
            "ExecutorID in Call: {executor_id} does not match ExecutorID in 'status': {}",
            id.value
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ratufa_proto::v1::{ExecutorId, FrameworkId, TaskId};

    fn update(status: TaskStatus) -> Call {
        Call {
            executor_id: ExecutorId { value: "e".into() },
            framework_id: FrameworkId { value: "f".into() },
            r#type: Some(call::Type::Update as i32),
            update: Some(call::Update { status }),
            ..Call::default()
        }
    }

    fn status() -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskRunning as i32,
            source: Some(Source::Executor as i32),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            executor_id: Some(ExecutorId { value: "e".into() }),
            ..TaskStatus::default()
        }
    }

    #[test]
    fn a_good_update_passes() {
        validate(&update(status())).unwrap();
    }

    #[test]
    fn updates_are_refused_with_the_field_at_fault() {
        let cases: Vec<(TaskStatus, &str)> = vec![
            (
                TaskStatus {
                    uuid: None,
                    ..status()
                },
                "'uuid'",
            ),
            (
                TaskStatus {
                    uuid: Some(vec![1; 4]),
                    ..status()
                },
                "status.uuid",
            ),
            (
                TaskStatus {
                    source: Some(Source::Agent as i32),
                    ..status()
                },
                "status.source",
            ),
            (
                TaskStatus {
                    state: TaskState::TaskStaging as i32,
                    ..status()
                },
                "TASK_STAGING",
            ),
            (
                TaskStatus {
                    executor_id: Some(ExecutorId {
                        value: "other".into(),
                    }),
                    ..status()
                },
                "does not match",
            ),
        ];
        for (status, expected) in cases {
            let error = validate(&update(status)).unwrap_err();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }

    #[test]
    fn ids_and_type_are_required() {
        let mut call = update(status());
        call.executor_id.value.clear();
        assert!(validate(&call).unwrap_err().contains("executor_id"));
        let mut call = update(status());
        call.framework_id.value.clear();
        assert!(validate(&call).unwrap_err().contains("framework_id"));
        let mut call = update(status());
        call.r#type = None;
        assert!(validate(&call).unwrap_err().contains("'type'"));
        let mut call = update(status());
        call.r#type = Some(call::Type::Subscribe as i32);
        assert!(validate(&call).unwrap_err().contains("'subscribe'"));
    }
}
