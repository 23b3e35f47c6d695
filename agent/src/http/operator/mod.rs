//! The agent's operator API: `POST /api/v1` (also `/slave(1)/api/v1`) with a
//! `mesos.v1.agent.Call`, answered synchronously with a `mesos.v1.agent.Response` in
//! JSON or protobuf, as Mesos's agent does.
//!
//! Served: GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE, GET_CONTAINERS,
//! GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_AGENT, LIST_FILES and READ_FILE.
//! Everything is read from the shared book ([`Sandboxes`]) that `/state`, `/flags`,
//! `/monitor/statistics` and `/files/*` read, so the views of the agent never disagree.
//! The other calls Mesos defines (logging level, nested containers, resource
//! providers) answer 501 naming the call.
//!
//! `/metrics/snapshot` serves the same metrics as Mesos's flat `{name: number}` map.
//!
//! Order of checks, as Mesos's agent: 405 unless POST; 400/415 for `Content-Type`; 400
//! for a body that does not decode or a call that does not validate (no `type`, a type
//! name we do not know, GET_METRICS without `get_metrics`); 406 when `Accept` allows
//! neither JSON nor protobuf.

mod metrics;
mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::any;
use ratufa_gateway::{ApiError, OperatorRealms};
use ratufa_proto::Encoding;
use ratufa_proto::v1::agent::{Call, Response, call, response};
use serde_json::Value;

use crate::files::{Book, Sandboxes};
use crate::isolator::Isolator;

#[derive(Clone)]
struct Operator {
    sandboxes: Sandboxes,
    isolator: Arc<dyn Isolator>,
    /// When the agent's HTTP side came up: `slave/uptime_secs`.
    started: SystemTime,
}

/// `/api/v1` in the read-write realm (as in Mesos, the whole API, GET_* calls too) and
/// `/metrics/snapshot` in the read-only one.
pub fn routes(
    sandboxes: Sandboxes,
    isolator: Arc<dyn Isolator>,
    realms: &OperatorRealms,
) -> Router {
    let api = Router::new()
        .route("/api/v1", any(api))
        .route("/slave(1)/api/v1", any(api));
    let metrics = Router::new().route("/metrics/snapshot", any(snapshot));
    realms
        .readwrite(api)
        .merge(realms.readonly(metrics))
        .with_state(Operator {
            sandboxes,
            isolator,
            started: SystemTime::now(),
        })
}

async fn api(
    State(operator): State<Operator>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    match serve(operator, &method, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// `/metrics/snapshot`: GET_METRICS's values as Mesos's flat `{name: number}` map.
async fn snapshot(State(operator): State<Operator>) -> axum::Json<Value> {
    let book = operator.sandboxes.snapshot();
    let values = metrics::metrics(&book, operator.started)
        .metrics
        .into_iter()
        .map(|metric| (metric.name, Value::from(metric.value.unwrap_or(0.0))))
        .collect();
    axum::Json(Value::Object(values))
}

async fn serve(
    operator: Operator,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (encoding, call, bytes) = ratufa_gateway::decode_call_keeping_body::<Call>(
        method,
        headers,
        body,
        ratufa_gateway::DEFAULT_MAX_BODY_BYTES,
    )
    .await?;
    let kind = validate(&call, encoding, &bytes)?;
    let accept = ratufa_gateway::response_encoding(headers)?;
    let response = answer(&operator, kind, call).await?;
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, accept.media_type())],
        accept.encode(&response),
    )
        .into_response())
}

/// The call's type, once the call is one Mesos would accept. A type name the decoder
/// did not know reads as unset; the JSON body still has it, and the error names it.
fn validate(call: &Call, encoding: Encoding, body: &[u8]) -> Result<call::Type, ApiError> {
    let invalid =
        |why: String| ApiError::bad_request(format!("Failed to validate agent::Call: {why}"));
    let Some(kind) = call.r#type.and_then(|t| call::Type::try_from(t).ok()) else {
        return Err(invalid(ratufa_gateway::missing_or_unknown_type(
            encoding, body,
        )));
    };
    let missing = match kind {
        call::Type::GetMetrics => call.get_metrics.is_none().then_some("get_metrics"),
        call::Type::ListFiles => call.list_files.is_none().then_some("list_files"),
        call::Type::ReadFile => call.read_file.is_none().then_some("read_file"),
        _ => None,
    };
    if let Some(field) = missing {
        return Err(invalid(format!("Expecting '{field}' to be present")));
    }
    Ok(kind)
}

async fn answer(operator: &Operator, kind: call::Type, call: Call) -> Result<Response, ApiError> {
    use call::Type as T;
    let book = operator.sandboxes.snapshot();
    let mut response = Response::default();
    match kind {
        T::GetHealth => {
            response.get_health = Some(response::GetHealth { healthy: true });
            response.r#type = Some(response::Type::GetHealth as i32);
        }
        T::GetFlags => {
            response.get_flags = Some(views::flags(&book));
            response.r#type = Some(response::Type::GetFlags as i32);
        }
        T::GetVersion => {
            response.get_version = Some(response::GetVersion {
                version_info: views::version(),
            });
            response.r#type = Some(response::Type::GetVersion as i32);
        }
        T::GetMetrics => {
            response.get_metrics = Some(metrics::metrics(&book, operator.started));
            response.r#type = Some(response::Type::GetMetrics as i32);
        }
        T::GetState => {
            response.get_state = Some(views::state(&book));
            response.r#type = Some(response::Type::GetState as i32);
        }
        T::GetContainers => {
            response.get_containers = Some(containers(operator, book).await);
            response.r#type = Some(response::Type::GetContainers as i32);
        }
        T::GetFrameworks => {
            response.get_frameworks = Some(views::frameworks(&book));
            response.r#type = Some(response::Type::GetFrameworks as i32);
        }
        T::GetExecutors => {
            response.get_executors = Some(views::executors(&book));
            response.r#type = Some(response::Type::GetExecutors as i32);
        }
        T::GetTasks => {
            response.get_tasks = Some(views::tasks(&book));
            response.r#type = Some(response::Type::GetTasks as i32);
        }
        T::GetAgent => {
            response.get_agent = Some(views::agent(&book));
            response.r#type = Some(response::Type::GetAgent as i32);
        }
        T::ListFiles => {
            let requested = call.list_files.map(|list| list.path).unwrap_or_default();
            let sandboxes = operator.sandboxes.clone();
            let listing = files(move || crate::files::list(&sandboxes, &requested)).await?;
            let file_infos = listing
                .iter()
                .map(|(path, metadata)| crate::files::file_info_proto(path, metadata))
                .collect();
            response.list_files = Some(response::ListFiles { file_infos });
            response.r#type = Some(response::Type::ListFiles as i32);
        }
        T::ReadFile => {
            let read = call.read_file.unwrap_or_default();
            let sandboxes = operator.sandboxes.clone();
            let (size, data) = files(move || {
                crate::files::read_file(&sandboxes, &read.path, read.offset, read.length)
            })
            .await?;
            response.read_file = Some(response::ReadFile { size, data });
            response.r#type = Some(response::Type::ReadFile as i32);
        }
        other => {
            return Err(ApiError::not_implemented(format!(
                "{} is not implemented by ratufa's agent",
                other.as_str_name()
            )));
        }
    }
    Ok(response)
}

/// LIST_FILES and READ_FILE: the `/files/*` code, on a blocking thread, its refusals
/// (404, 403, 400 for a directory) kept.
async fn files<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, (StatusCode, String)> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err((status, message))) => Err(ApiError::new(status, message.trim_end())),
        Err(e) => Err(ApiError::internal(format!("reading files failed: {e}"))),
    }
}

/// GET_CONTAINERS reads `/proc` and cgroup files: off the async workers. Every
/// container is an executor's (the agent makes no nested or standalone ones), so
/// `show_nested` and `show_standalone` change nothing.
async fn containers(operator: &Operator, book: Book) -> response::GetContainers {
    let isolator = operator.isolator.clone();
    tokio::task::spawn_blocking(move || views::containers(&book, isolator.as_ref()))
        .await
        .unwrap_or_default()
}
