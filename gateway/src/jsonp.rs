//! `?jsonp=<callback>` on the JSON endpoints, as Mesos's master and agent answer it:
//! the document wrapped as `<callback>(<document>);` with `Content-Type:
//! text/javascript`. Mesos's web UI fetches `/master/state`, `/metrics/snapshot`,
//! `/master/roles`, an agent's `/state`, `/monitor/statistics` and `/files/browse`
//! this way (`?jsonp=JSON_CALLBACK`).
//!
//! Only successful `application/json` answers are wrapped; errors and other bodies
//! pass unchanged. Unlike Mesos, the callback must be a JavaScript name (letters,
//! digits, `_`, `$` and `.`): anything else is refused with 400, so that no request can
//! make the endpoint serve script of its choosing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;

use crate::ApiError;

/// The longest callback name taken.
const MAX_CALLBACK: usize = 256;

/// Middleware: wraps JSON answers to GETs that name a `jsonp` callback (event streams
/// and other calls are POSTs, never wrapped).
pub async fn jsonp(request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    let callback = match callback(request.uri().query()) {
        Ok(Some(callback)) => callback,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    // Streamed documents stay streamed: the callback goes before the first chunk and
    // the closing after the last.
    let open = futures::stream::once(async move {
        Ok::<_, axum::Error>(bytes::Bytes::from(format!("{callback}(")))
    });
    let close = futures::stream::once(async { Ok(bytes::Bytes::from_static(b");")) });
    let wrapped = open.chain(body.into_data_stream()).chain(close);
    Response::from_parts(parts, Body::from_stream(wrapped))
}

/// The `jsonp` parameter of a query string, if there is one.
fn callback(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let Some((_, value)) = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "jsonp")
        .last()
    else {
        return Ok(None);
    };
    let valid = !value.is_empty()
        && value.len() <= MAX_CALLBACK
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'));
    if !valid {
        return Err(ApiError::bad_request(format!(
            "Query parameter 'jsonp' must be a JavaScript function name (letters, digits, \
             '_', '$', '.'; at most {MAX_CALLBACK}), got '{value}'"
        )));
    }
    Ok(Some(value.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_names() {
        assert_eq!(callback(None).ok(), Some(None));
        assert_eq!(callback(Some("limit=1")).ok(), Some(None));
        assert_eq!(
            callback(Some("limit=1&jsonp=angular.callbacks._0")).ok(),
            Some(Some("angular.callbacks._0".to_string()))
        );
        for bad in ["jsonp=", "jsonp=alert(1)", "jsonp=a%3Bb", "jsonp=a b"] {
            let error = callback(Some(bad)).err().map(|e| e.message);
            assert!(
                error.as_deref().is_some_and(|e| e.contains("'jsonp'")),
                "{bad}: {error:?}"
            );
        }
    }
}
