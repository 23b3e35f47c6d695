//! Getting a URI's bytes into a file: `http://` and `https://` with hyper (redirects
//! followed, a stall timeout; https verified against the system's authorities and the
//! agent's LIBPROCESS_SSL_CA_FILE/CA_DIR), `file://` and absolute paths by copying.
//! Other schemes are refused with a clear message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use ratufa_gateway::tcp::Connector;
use tokio::io::AsyncWriteExt;

/// The fetcher's HTTP(S) client.
pub type WebClient = Client<Connector, Empty<Bytes>>;

/// Mesos's `--fetcher_stall_timeout` default: a download silent this long fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed before giving up (curl's default in Mesos is unbounded; a loop
/// must end).
const MAX_REDIRECTS: usize = 10;

/// Where a URI's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Http(String),
    Local(PathBuf),
}

/// Classifies `uri`, refusing what this fetcher cannot get.
pub fn source(uri: &str) -> Result<Source, String> {
    if let Some(path) = uri.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err("a file:// URI needs an absolute path".to_string());
        }
        return Ok(Source::Local(PathBuf::from(path)));
    }
    if uri.starts_with('/') {
        return Ok(Source::Local(PathBuf::from(uri)));
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(Source::Http(uri.to_string()));
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(format!("the '{scheme}' scheme is not supported"));
    }
    Err(
        "a relative path (Mesos resolves it against --frameworks_home, which ratufa does not have)"
            .to_string(),
    )
}

/// The file name a URI gives when no output_file is set: the last path segment,
/// query and fragment left out.
pub fn basename(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    // For a URL, the path starts after the authority.
    let path = if uri.contains("://") && !uri.starts_with("file://") {
        path.split_once('/').map_or("", |(_, p)| p)
    } else {
        path
    };
    let name = path.rsplit('/').next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// Fetches `source` into `dest` (created or truncated); returns the bytes written.
pub async fn fetch(client: &WebClient, source: &Source, dest: &Path) -> Result<u64, String> {
    match source {
        Source::Local(path) => tokio::fs::copy(path, dest)
            .await
            .map_err(|e| format!("cannot copy {}: {e}", path.display())),
        Source::Http(url) => http(client, url, dest).await,
    }
}

async fn http(client: &WebClient, url: &str, dest: &Path) -> Result<u64, String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let request = hyper::Request::get(uri.clone())
            .header(
                hyper::header::USER_AGENT,
                concat!("ratufa-fetcher/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| format!("bad request: {e}"))?;
        let response = tokio::time::timeout(STALL_TIMEOUT, client.request(request))
            .await
            .map_err(|_| format!("no response in {STALL_TIMEOUT:?}"))?
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
        {
            url = resolve(&uri, location)?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        let mut body = response.into_body();
        let mut written = 0u64;
        loop {
            let frame = tokio::time::timeout(STALL_TIMEOUT, body.frame())
                .await
                .map_err(|_| format!("the download stalled for {STALL_TIMEOUT:?}"))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| format!("the download broke: {e}"))?;
            if let Ok(data) = frame.into_data() {
                file.write_all(&data)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
                written += data.len() as u64;
            }
        }
        file.flush()
            .await
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        return Ok(written);
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A redirect's Location against the URL that gave it.
fn resolve(base: &hyper::Uri, location: &str) -> Result<String, String> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base
        .authority()
        .map(|a| a.as_str())
        .ok_or_else(|| "a redirect from a URL without a host".to_string())?;
    if location.starts_with('/') {
        Ok(format!("{scheme}://{authority}{location}"))
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        Ok(format!("{scheme}://{authority}{dir}/{location}"))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            source("http://h:1/a.tgz").unwrap(),
            Source::Http("http://h:1/a.tgz".into())
        );
        assert_eq!(source("/tmp/x").unwrap(), Source::Local("/tmp/x".into()));
        assert_eq!(
            source("file:///tmp/x").unwrap(),
            Source::Local("/tmp/x".into())
        );
        assert_eq!(
            source("HTTPS://h/a").unwrap(),
            Source::Http("HTTPS://h/a".into())
        );
        assert!(source("hdfs://h/a").unwrap_err().contains("hdfs"));
        assert!(source("relative/x").is_err());
        assert!(source("file://relative").is_err());
    }

    #[test]
    fn basenames() {
        assert_eq!(
            basename("http://h:1/d/a.tgz?x=1#f").as_deref(),
            Some("a.tgz")
        );
        assert_eq!(basename("file:///tmp/run.sh").as_deref(), Some("run.sh"));
        assert_eq!(basename("/tmp/run.sh").as_deref(), Some("run.sh"));
        assert_eq!(basename("http://h:1/"), None);
        assert_eq!(basename("http://h:1"), None);
        assert_eq!(basename("/tmp/.."), None);
    }

    #[test]
    fn redirects_resolve() {
        let base: hyper::Uri = "http://h:1/d/a".parse().unwrap();
        assert_eq!(resolve(&base, "/b").unwrap(), "http://h:1/b");
        assert_eq!(resolve(&base, "c").unwrap(), "http://h:1/d/c");
        assert_eq!(resolve(&base, "http://o/x").unwrap(), "http://o/x");
    }
}
