//! `POST /master/teardown` (also `/teardown`) with the form body `frameworkId=<id>`:
//! the operator endpoint Mesos had before the v1 operator API's TEARDOWN, still what
//! operators' scripts call (`curl -d frameworkId=… master:5050/master/teardown`).
//! It tears the framework down as TEARDOWN does, and answers as Mesos does: 200 with
//! no body, 400 for a body without `frameworkId` or an unknown framework, 405 for
//! another method. The body is read as a form whatever its `Content-Type`, as Mesos
//! reads it.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use ratufa_gateway::ApiError;

use crate::MasterHandle;
use crate::core::OperatorChange;

pub(super) async fn teardown(
    State(master): State<MasterHandle>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
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
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(&[Method::POST], method));
    }
    let body = ratufa_gateway::request::read_body(headers, body, master.max_body_bytes()).await?;
    let framework_id = framework_id(&body)?;
    super::operator::apply(&master, OperatorChange::Teardown(framework_id)).await
}

/// The `frameworkId` of a form body (the last one, if given more than once).
fn framework_id(body: &[u8]) -> Result<String, ApiError> {
    form_urlencoded::parse(body)
        .filter(|(name, _)| name == "frameworkId")
        .map(|(_, value)| value.into_owned())
        .last()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Missing 'frameworkId' in the request body (a form: frameworkId=<framework id>)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_id_comes_from_the_form() {
        assert_eq!(
            framework_id(b"frameworkId=abc-0001").ok().as_deref(),
            Some("abc-0001")
        );
        assert_eq!(
            framework_id(b"x=1&frameworkId=a%2Db+c").ok().as_deref(),
            Some("a-b c")
        );
        for body in [&b""[..], b"framework_id=abc", b"frameworkId="] {
            let error = framework_id(body).err().map(|e| e.message);
            assert!(
                error.as_deref().is_some_and(|e| e.contains("frameworkId")),
                "{body:?}: {error:?}"
            );
        }
    }
}
