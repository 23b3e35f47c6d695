//! The crate's error enum, and `ApiError`: a rejected HTTP request, with the status and
//! the message that tells the client what to fix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Everything in this crate that fails without being an HTTP answer by itself.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A RecordIO length prefix held something other than an ASCII digit.
    #[error(
        "RecordIO: invalid byte {byte:#04x} in record length (expected a decimal digit or '\\n')"
    )]
    RecordIoInvalidLengthByte { byte: u8 },
    /// A RecordIO length prefix had more digits than any acceptable length needs.
    #[error("RecordIO: record length has more than {max_digits} digits")]
    RecordIoLengthTooLong { max_digits: usize },
    /// A RecordIO length prefix does not fit in 64 bits.
    #[error("RecordIO: record length does not fit in 64 bits")]
    RecordIoLengthOverflow,
    /// A RecordIO length prefix started with `0` and had more digits.
    #[error("RecordIO: record length has a leading zero")]
    RecordIoLeadingZero,
    /// A RecordIO length prefix was `\n` alone, with no digits.
    #[error("RecordIO: empty record length (no digits before '\\n')")]
    RecordIoEmptyLength,
    /// A RecordIO record of length 0, which the format forbids.
    #[error("RecordIO: record length is 0 (empty records are not allowed)")]
    RecordIoZeroLength,
    /// A RecordIO record longer than the decoder was told to accept.
    #[error("RecordIO: record length {len} exceeds the maximum of {max} bytes")]
    RecordIoTooLarge { len: u64, max: usize },
    /// The RecordIO input ended inside a length prefix or a record.
    #[error("RecordIO: input ended mid-record ({0})")]
    RecordIoTruncated(String),
    /// `feed` was called again after it had failed.
    #[error("RecordIO: the stream already failed and cannot be resumed")]
    RecordIoFailed,
    /// The connection carrying a RecordIO body failed.
    #[error("RecordIO: the connection failed: {0}")]
    RecordIoTransport(String),

    /// The credentials file could not be read.
    #[error("credentials file {}: {source}", path.display())]
    CredentialsIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The credentials file (JSON form) does not have the expected shape.
    #[error("credentials file {}: {message}", path.display())]
    CredentialsJson { path: PathBuf, message: String },
    /// A line of the credentials file (text form) is not `principal secret`.
    #[error("credentials file {}, line {line}: {message}", path.display())]
    CredentialsLine {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A LIBPROCESS_SSL_* variable, or a file it names, is unusable.
    #[error("{variable}: {message}")]
    Tls { variable: String, message: String },
}

/// A request the gateway refuses: status, message, and the headers the status calls
/// for (`Allow`, `WWW-Authenticate`, `Retry-After`, `Location`).
///
/// The body is always `text/plain; charset=utf-8`, as Mesos sends its errors, so a
/// client can show it to a person unchanged.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Boxed to keep `Result<_, ApiError>` small on the success path.
    headers: Box<HeaderMap>,
}

impl ApiError {
    /// An error with the given status and message and no extra headers.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: Box::default(),
        }
    }

    /// The extra headers this error carries (not including `Content-Type`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn with_header(mut self, name: axum::http::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with `WWW-Authenticate: Basic realm="<realm>"`, and a generic message.
    pub fn unauthorized(realm: &str) -> Self {
        Self::unauthorized_because(realm, "Authentication required")
    }

    /// 401 with `WWW-Authenticate: Basic realm="<realm>"`, saying what was wrong.
    pub fn unauthorized_because(realm: &str, message: impl Into<String>) -> Self {
        let error = Self::new(StatusCode::UNAUTHORIZED, message);
        // Quotes and backslashes would break out of the quoted-string; realms are our
        // own constants, but a bad one must not cost the header.
        let realm: String = realm.chars().filter(|c| *c != '"' && *c != '\\').collect();
        match HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
            Ok(value) => error.with_header(WWW_AUTHENTICATE, value),
            Err(_) => error.with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ratufa\""),
            ),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 405 with an `Allow` header; the message is Mesos's: "Expecting 'POST', received
    /// 'GET'".
    pub fn method_not_allowed(allowed: &[Method], got: &Method) -> Self {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let expecting = names
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(" or ");
        let error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting {expecting}, received '{got}'"),
        );
        match HeaderValue::from_str(&names.join(", ")) {
            Ok(value) => error.with_header(ALLOW, value),
            // Method names are tokens, so this cannot happen; without the header the
            // answer is still a correct 405.
            Err(_) => error,
        }
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit_bytes} bytes"),
        )
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// 503 with `Retry-After` in whole seconds (rounded up, so a client never comes
    /// back earlier than asked).
    pub fn service_unavailable(message: impl Into<String>, retry_after: Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            .with_header(RETRY_AFTER, HeaderValue::from(secs))
    }

    /// 307 with `Location`. A location that cannot be a header value is our bug (the
    /// leader's advertised address), so it turns into a 500 rather than a broken 307.
    pub fn temporary_redirect(location: &str) -> Self {
        match HeaderValue::from_str(location) {
            Ok(value) => Self::new(
                StatusCode::TEMPORARY_REDIRECT,
                format!("Redirecting to {location}"),
            )
            .with_header(LOCATION, value),
            Err(_) => Self::internal(format!(
                "Cannot redirect: the location {location:?} is not a valid header value"
            )),
        }
    }

    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), message = %self.message, "request rejected");
        let mut response = (self.status, self.message).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.extend(*self.headers);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn response_is_plain_text_with_the_message() {
        let response = ApiError::bad_request("field 'type' is missing").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(body_text(response).await, "field 'type' is missing");
    }

    #[test]
    fn unauthorized_names_the_realm() {
        let error = ApiError::unauthorized("mesos-master-scheduler");
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            error.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"mesos-master-scheduler\""
        );
        let response = error.into_response();
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"mesos-master-scheduler\""
        );
    }

    #[test]
    fn unauthorized_realm_cannot_break_the_quoting() {
        let error = ApiError::unauthorized("a\"b\\c");
        assert_eq!(error.headers()[WWW_AUTHENTICATE], "Basic realm=\"abc\"");
    }

    #[test]
    fn method_not_allowed_says_what_was_expected() {
        let error = ApiError::method_not_allowed(&[Method::POST], &Method::GET);
        assert_eq!(error.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error.message, "Expecting 'POST', received 'GET'");
        assert_eq!(error.headers()[ALLOW], "POST");

        let error = ApiError::method_not_allowed(&[Method::GET, Method::POST], &Method::PUT);
        assert_eq!(error.message, "Expecting 'GET' or 'POST', received 'PUT'");
        assert_eq!(error.headers()[ALLOW], "GET, POST");
    }

    #[test]
    fn service_unavailable_rounds_retry_after_up() {
        let error = ApiError::service_unavailable("No leader elected", Duration::from_millis(1500));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.headers()[RETRY_AFTER], "2");
        let error = ApiError::service_unavailable("x", Duration::from_secs(3));
        assert_eq!(error.headers()[RETRY_AFTER], "3");
    }

    #[test]
    fn redirect_sets_location_or_fails_loudly() {
        let error = ApiError::temporary_redirect("http://m2:5050/api/v1/scheduler");
        assert_eq!(error.status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(error.headers()[LOCATION], "http://m2:5050/api/v1/scheduler");

        let error = ApiError::temporary_redirect("http://m2:5050/\n");
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error.headers().get(LOCATION).is_none());
    }

    #[test]
    fn payload_too_large_names_the_limit() {
        let error = ApiError::payload_too_large(1024);
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error.message.contains("1024 bytes"), "{}", error.message);
    }

    #[test]
    fn constructors_pick_their_status() {
        assert_eq!(ApiError::forbidden("x").status, StatusCode::FORBIDDEN);
        assert_eq!(ApiError::not_found("x").status, StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::not_acceptable("x").status,
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            ApiError::unsupported_media_type("x").status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            ApiError::not_implemented("x").status,
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(ApiError::conflict("x").status, StatusCode::CONFLICT);
        assert_eq!(
            ApiError::internal("x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
