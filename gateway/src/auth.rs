//! HTTP basic authentication against one credentials file, in the formats Mesos's
//! `--credentials` flag reads:
//!
//! ```text
//! {"credentials": [{"principal": "sched", "secret": "s3cret"}]}
//! ```
//! or one `principal secret` pair per line. Blank lines are skipped, and so are lines
//! starting with `#` (an extension; Mesos would read `# x` as principal `#`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use serde::Deserialize;

use crate::{ApiError, GatewayError};

/// Principals and their secrets. `Debug` lists principals only.
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, String>,
}

#[derive(Deserialize)]
struct JsonFile {
    credentials: Vec<JsonCredential>,
}

#[derive(Deserialize)]
struct JsonCredential {
    principal: String,
    secret: String,
}

impl Credentials {
    /// Credentials from pairs, for tests and for callers that hold them already.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Credentials {
            secrets: pairs.into_iter().collect(),
        }
    }

    /// Reads and parses a credentials file; errors name the file (and the line, for
    /// the text form).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, GatewayError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| GatewayError::CredentialsIo {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a credentials file; `origin` is only used in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, GatewayError> {
        let pairs = if text.trim_start().starts_with('{') {
            parse_json(text, origin)?
        } else {
            parse_lines(text, origin)?
        };
        let mut secrets = HashMap::new();
        for (where_, principal, secret) in pairs {
            if secrets.insert(principal.clone(), secret).is_some() {
                return Err(match where_ {
                    Where::Line(line) => GatewayError::CredentialsLine {
                        path: origin.to_owned(),
                        line,
                        message: format!("principal '{principal}' is listed twice"),
                    },
                    Where::Entry(i) => GatewayError::CredentialsJson {
                        path: origin.to_owned(),
                        message: format!(
                            "credentials[{i}]: principal '{principal}' is listed twice"
                        ),
                    },
                });
            }
        }
        Ok(Credentials { secrets })
    }

    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The principal named by a valid `Authorization: Basic …` header.
    ///
    /// Every failure is a 401 carrying `WWW-Authenticate: Basic realm="<realm>"`, so
    /// clients know to retry with credentials. A malformed header is named as such; a
    /// wrong principal and a wrong secret get the same answer, so the response does not
    /// reveal which principals exist.
    pub fn authenticate(&self, headers: &HeaderMap, realm: &str) -> Result<String, ApiError> {
        let fail = |message: &str| {
            tracing::debug!(realm, reason = message, "authentication failed");
            ApiError::unauthorized_because(realm, message)
        };
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Err(fail("Missing 'Authorization' header"));
        };
        let value = value
            .to_str()
            .map_err(|_| fail("Malformed 'Authorization' header: not ASCII text"))?;
        let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(fail("Expecting 'Authorization' to use the 'Basic' scheme"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| {
                fail("Malformed 'Authorization' header: credentials are not valid base64")
            })?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| fail("Malformed 'Authorization' header: credentials are not UTF-8"))?;
        let Some((principal, secret)) = decoded.split_once(':') else {
            return Err(fail(
                "Malformed 'Authorization' header: expected base64 of 'principal:secret'",
            ));
        };
        let matches = match self.secrets.get(principal) {
            Some(expected) => constant_time_eq(expected.as_bytes(), secret.as_bytes()),
            None => {
                // Same work for an unknown principal as for a wrong secret, so timing
                // does not tell them apart either.
                let _ = constant_time_eq(secret.as_bytes(), secret.as_bytes());
                false
            }
        };
        if matches {
            Ok(principal.to_owned())
        } else {
            Err(fail("Invalid credentials"))
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut principals: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
        principals.sort_unstable();
        f.debug_struct("Credentials")
            .field("principals", &principals)
            .finish_non_exhaustive()
    }
}

enum Where {
    Line(usize),
    Entry(usize),
}

fn parse_json(text: &str, origin: &Path) -> Result<Vec<(Where, String, String)>, GatewayError> {
    let error = |message: String| GatewayError::CredentialsJson {
        path: origin.to_owned(),
        message,
    };
    let file: JsonFile = serde_json::from_str(text).map_err(|e| {
        error(format!(
            "expected {{\"credentials\": [{{\"principal\": …, \"secret\": …}}]}}: {e}"
        ))
    })?;
    file.credentials
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if c.principal.is_empty() {
                return Err(error(format!("credentials[{i}]: 'principal' is empty")));
            }
            Ok((Where::Entry(i), c.principal, c.secret))
        })
        .collect()
}

fn parse_lines(text: &str, origin: &Path) -> Result<Vec<(Where, String, String)>, GatewayError> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_ascii_whitespace().collect();
        let [principal, secret] = words[..] else {
            return Err(GatewayError::CredentialsLine {
                path: PathBuf::from(origin),
                line: index + 1,
                message: format!(
                    "expected 'principal secret' (two words), found {} word(s)",
                    words.len()
                ),
            });
        };
        pairs.push((
            Where::Line(index + 1),
            principal.to_owned(),
            secret.to_owned(),
        ));
    }
    Ok(pairs)
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::WWW_AUTHENTICATE;
    use axum::http::{HeaderValue, StatusCode};

    const REALM: &str = "mesos-master-scheduler";

    fn basic(user_pass: &str) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        raw(&format!("Basic {encoded}"))
    }

    fn raw(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn creds() -> Credentials {
        Credentials::parse("sched s3cret\nops hunter2:x\n", Path::new("/etc/creds")).unwrap()
    }

    fn assert_401(result: Result<String, ApiError>, needle: &str) {
        let err = result.unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            err.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"mesos-master-scheduler\""
        );
        assert!(
            err.message.contains(needle),
            "{:?} lacks {needle:?}",
            err.message
        );
    }

    #[test]
    fn parses_the_json_form() {
        let c = Credentials::parse(
            r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b","secret":"y"}]}"#,
            Path::new("c.json"),
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.authenticate(&basic("b:y"), REALM).unwrap(), "b");
        assert_401(c.authenticate(&basic("b:x"), REALM), "Invalid credentials");
    }

    #[test]
    fn parses_the_text_form_with_blank_lines_and_comments() {
        let c =
            Credentials::parse("\n# operators\n  a   x  \n\tb\ty\n", Path::new("c.txt")).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.authenticate(&basic("a:x"), REALM).unwrap(), "a");
        assert!(format!("{c:?}").contains("[\"a\", \"b\"]"));
        assert!(
            !format!("{c:?}").contains('x'),
            "Debug must not show secrets"
        );
    }

    #[test]
    fn text_errors_name_file_and_line() {
        let err = Credentials::parse("a x\n\nb y z\n", Path::new("/etc/creds")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/etc/creds") && text.contains("line 3"),
            "{text}"
        );
        assert!(text.contains("3 word(s)"), "{text}");

        let err = Credentials::parse("a x\nlonely\n", Path::new("/etc/creds")).unwrap_err();
        assert!(
            matches!(err, GatewayError::CredentialsLine { line: 2, .. }),
            "{err}"
        );

        let err = Credentials::parse("a x\na y\n", Path::new("/etc/creds")).unwrap_err();
        assert!(err.to_string().contains("line 2") && err.to_string().contains("twice"));
    }

    #[test]
    fn json_errors_name_the_file_and_the_fault() {
        let err = Credentials::parse(
            r#"{"credentials":[{"principal":"a"}]}"#,
            Path::new("c.json"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("c.json") && text.contains("secret"), "{text}");

        let err = Credentials::parse(
            r#"{"credentials":[{"principal":"","secret":"s"}]}"#,
            Path::new("c.json"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("credentials[0]"), "{err}");

        let err = Credentials::parse("{not json", Path::new("c.json")).unwrap_err();
        assert!(matches!(err, GatewayError::CredentialsJson { .. }), "{err}");
    }

    #[test]
    fn from_file_reads_and_names_a_missing_file() {
        let dir = std::env::temp_dir().join(format!("ratufa-gw-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        std::fs::write(&path, "sched s3cret\n").unwrap();
        let c = Credentials::from_file(&path).unwrap();
        assert_eq!(
            c.authenticate(&basic("sched:s3cret"), REALM).unwrap(),
            "sched"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let err = Credentials::from_file(&path).unwrap_err();
        assert!(matches!(err, GatewayError::CredentialsIo { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn authenticates_and_returns_the_principal() {
        let c = creds();
        assert_eq!(
            c.authenticate(&basic("sched:s3cret"), REALM).unwrap(),
            "sched"
        );
        // The secret is everything after the first colon.
        assert_eq!(
            c.authenticate(&basic("ops:hunter2:x"), REALM).unwrap(),
            "ops"
        );
        assert_eq!(
            c.authenticate(
                &raw(&format!(
                    "basic {}",
                    base64::engine::general_purpose::STANDARD.encode("sched:s3cret")
                )),
                REALM
            )
            .unwrap(),
            "sched"
        );
    }

    #[test]
    fn wrong_or_missing_credentials_are_401() {
        let c = creds();
        assert_401(
            c.authenticate(&HeaderMap::new(), REALM),
            "Missing 'Authorization'",
        );
        assert_401(
            c.authenticate(&basic("sched:wrong"), REALM),
            "Invalid credentials",
        );
        assert_401(
            c.authenticate(&basic("nobody:s3cret"), REALM),
            "Invalid credentials",
        );
        assert_401(
            c.authenticate(&basic("sched:s3cre"), REALM),
            "Invalid credentials",
        );
    }

    #[test]
    fn malformed_headers_are_401_naming_the_fault() {
        let c = creds();
        assert_401(c.authenticate(&raw("Bearer abc"), REALM), "'Basic' scheme");
        assert_401(c.authenticate(&raw("Basic !!!"), REALM), "base64");
        assert_401(
            c.authenticate(&basic("no-colon"), REALM),
            "'principal:secret'",
        );
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic \xff").unwrap(),
        );
        assert_401(c.authenticate(&h, REALM), "not ASCII");
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"\xff:\xfe");
        assert_401(
            c.authenticate(&raw(&format!("Basic {encoded}")), REALM),
            "UTF-8",
        );
    }
}
