//! The master's operator API: `POST /api/v1` (also `/master/api/v1`) with a
//! `mesos.v1.master.Call`, answered synchronously in JSON or protobuf, as Mesos's
//! master does. Leader only, like the scheduler API.
//!
//! Reads (GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE, GET_AGENTS,
//! GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_ROLES, GET_WEIGHTS, GET_MASTER) are
//! built from one [`StateSnapshot`](crate::core::StateSnapshot), the one
//! `/master/state` uses, on a blocking thread. Changes (UPDATE_WEIGHTS,
//! MARK_AGENT_GONE, TEARDOWN) go to the core and answer 200 with no body. SUBSCRIBE
//! opens an event stream (see `events`). Every other call Mesos defines answers 501
//! naming the call.
//!
//! Order of checks, as Mesos's master: 405 unless POST; 400/415 for `Content-Type`;
//! 400 for a body that does not decode or a call that does not validate (no `type`,
//! a type name we do not know, the call's own message missing); 406 when `Accept`
//! allows neither JSON nor protobuf.

mod events;
#[cfg(test)]
mod oracle;
mod parts;
mod views;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use ratufa_gateway::ApiError;
use ratufa_proto::Encoding;
use ratufa_proto::v1::master::{Call, Response, call, response};

use super::chunks::{Chunks, stream_body};
use super::scheduler::{rejected, stopped};
use crate::MasterHandle;
use crate::core::OperatorChange;
use ratufa_gateway::version::version_info;

pub(super) async fn api(
    State(master): State<MasterHandle>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    match serve(master, &method, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(
    master: MasterHandle,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (encoding, call, bytes) = ratufa_gateway::decode_call_keeping_body::<Call>(
        method,
        headers,
        body,
        master.max_body_bytes(),
    )
    .await?;
    let request = validate(call, encoding, &bytes)?;
    match request {
        Request::Read(kind) => {
            let accept = ratufa_gateway::response_encoding(headers)?;
            let body = read(master, kind, accept).await?;
            Ok((StatusCode::OK, [(CONTENT_TYPE, accept.media_type())], body).into_response())
        }
        Request::Subscribe => {
            let accept = ratufa_gateway::response_encoding(headers)?;
            events::subscribe(master, accept).await
        }
        Request::Change(change) => apply(&master, change).await,
    }
}

/// Hands `change` to the core: 200 with no body once made, or the core's refusal.
/// Also `/master/teardown`'s answer.
pub(super) async fn apply(
    master: &MasterHandle,
    change: OperatorChange,
) -> Result<HttpResponse, ApiError> {
    match master.operator(change).await.map_err(stopped)? {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(rejection) => Err(rejected(rejection)),
    }
}

/// A call that validated: something to read, or a change for the core.
enum Request {
    Read(call::Type),
    Subscribe,
    Change(OperatorChange),
}

/// Mesos's `validation::master::call::validate`: the type, then the message the type
/// needs and the ids in it. A type name the decoder did not know reads as unset; the
/// JSON body still has it, and the error names it.
fn validate(call: Call, encoding: Encoding, body: &[u8]) -> Result<Request, ApiError> {
    let invalid =
        |why: String| ApiError::bad_request(format!("Failed to validate master::Call: {why}"));
    let missing = |field: &str| invalid(format!("Expecting '{field}' to be present"));
    let Some(kind) = call.r#type.and_then(|t| call::Type::try_from(t).ok()) else {
        return Err(invalid(ratufa_gateway::missing_or_unknown_type(
            encoding, body,
        )));
    };
    use call::Type as T;
    let request = match kind {
        T::GetMetrics => {
            call.get_metrics.ok_or_else(|| missing("get_metrics"))?;
            Request::Read(kind)
        }
        T::GetHealth
        | T::GetFlags
        | T::GetVersion
        | T::GetState
        | T::GetAgents
        | T::GetFrameworks
        | T::GetExecutors
        | T::GetTasks
        | T::GetRoles
        | T::GetWeights
        | T::GetMaster => Request::Read(kind),
        T::Subscribe => Request::Subscribe,
        T::UpdateWeights => {
            let update = call
                .update_weights
                .ok_or_else(|| missing("update_weights"))?;
            Request::Change(OperatorChange::UpdateWeights(update.weight_infos))
        }
        T::MarkAgentGone => {
            let gone = call
                .mark_agent_gone
                .ok_or_else(|| missing("mark_agent_gone"))?;
            if gone.agent_id.value.is_empty() {
                return Err(invalid(
                    "Expecting 'mark_agent_gone.agent_id.value' to be non-empty".to_string(),
                ));
            }
            Request::Change(OperatorChange::MarkAgentGone(gone.agent_id.value))
        }
        T::Teardown => {
            let teardown = call.teardown.ok_or_else(|| missing("teardown"))?;
            if teardown.framework_id.value.is_empty() {
                return Err(invalid(
                    "Expecting 'teardown.framework_id.value' to be non-empty".to_string(),
                ));
            }
            Request::Change(OperatorChange::Teardown(teardown.framework_id.value))
        }
        T::Unknown => return Err(invalid("Expecting 'type' to be present".to_string())),
        other => {
            return Err(ApiError::not_implemented(format!(
                "{} is not implemented by ratufa's master",
                other.as_str_name()
            )));
        }
    };
    Ok(request)
}

/// Answers a read from a fresh snapshot, off the async workers. The big answers (the
/// state and its lists) are written part by part and streamed (see `parts`); the
/// small ones are built and encoded.
async fn read(master: MasterHandle, kind: call::Type, accept: Encoding) -> Result<Body, ApiError> {
    let snapshot = master.snapshot().await.map_err(stopped)?;
    if parts::is_big(kind) {
        return Ok(stream_body(move |sink| {
            parts::write(&snapshot, kind, accept, Chunks::streaming(sink));
        }));
    }
    let body =
        tokio::task::spawn_blocking(move || accept.encode(&answer(&master, &snapshot, kind)))
            .await
            .map_err(|e| ApiError::internal(format!("building the response failed: {e}")))?;
    Ok(Body::from(body))
}

fn answer(
    master: &MasterHandle,
    snapshot: &crate::core::StateSnapshot,
    kind: call::Type,
) -> Response {
    use call::Type as T;
    use response::Type as R;
    let mut out = Response::default();
    let r#type = match kind {
        T::GetHealth => {
            out.get_health = Some(response::GetHealth { healthy: true });
            R::GetHealth
        }
        T::GetFlags => {
            out.get_flags = Some(views::flags(master));
            R::GetFlags
        }
        T::GetVersion => {
            out.get_version = Some(response::GetVersion {
                version_info: version_info(),
            });
            R::GetVersion
        }
        T::GetMetrics => {
            out.get_metrics = Some(views::metrics(master, snapshot));
            R::GetMetrics
        }
        T::GetRoles => {
            out.get_roles = Some(views::roles(snapshot));
            R::GetRoles
        }
        T::GetWeights => {
            out.get_weights = Some(views::weights(snapshot));
            R::GetWeights
        }
        T::GetMaster => {
            out.get_master = Some(views::master(master, snapshot));
            R::GetMaster
        }
        // `validate` lets no other type through as a read, and `read` writes the big
        // ones in parts.
        _ => R::Unknown,
    };
    out.r#type = Some(r#type as i32);
    out
}
