//! `/files/browse`, `/files/read` and `/files/download` (and their `.json` aliases), as
//! Mesos serves them: missing `path` → 400, nothing there → 404, outside the
//! sandboxes → 403. File IO runs on blocking threads.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::Sandboxes;
use super::info::file_info;
use super::resolve::Refusal;

/// Mesos caps one read at 16 pages.
const READ_PAGES: usize = 16;

pub fn routes(sandboxes: Sandboxes) -> Router {
    Router::new()
        .route("/files/browse", any(browse))
        .route("/files/browse.json", any(browse))
        .route("/files/read", any(read))
        .route("/files/read.json", any(read))
        .route("/files/download", any(download))
        .route("/files/download.json", any(download))
        .with_state(sandboxes)
}

type Params = Query<HashMap<String, String>>;

async fn browse(State(sandboxes): State<Sandboxes>, Query(params): Params) -> Response {
    blocking(move || browse_blocking(&sandboxes, &params)).await
}

async fn read(State(sandboxes): State<Sandboxes>, Query(params): Params) -> Response {
    blocking(move || read_blocking(&sandboxes, &params)).await
}

async fn download(State(sandboxes): State<Sandboxes>, Query(params): Params) -> Response {
    blocking(move || download_blocking(&sandboxes, &params)).await
}

async fn blocking(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))
}

fn browse_blocking(sandboxes: &Sandboxes, params: &HashMap<String, String>) -> Response {
    let listing = match path_param(params).and_then(|requested| list(sandboxes, requested)) {
        Ok(listing) => listing,
        Err((status, message)) => return text(status, message),
    };
    let listing: Vec<Value> = listing
        .iter()
        .map(|(path, metadata)| file_info(path, metadata))
        .collect();
    json_response(&Value::Array(listing))
}

/// The entries of the directory `requested` leads to, by their path under `requested`,
/// sorted; a file lists as nothing, as in Mesos. `/files/browse` and the operator
/// API's LIST_FILES.
pub(crate) fn list(
    sandboxes: &Sandboxes,
    requested: &str,
) -> Result<Vec<(String, Metadata)>, (StatusCode, String)> {
    let resolved = resolve_path(sandboxes, requested)?;
    let mut listing = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&resolved) {
        let base = requested.trim_end_matches('/');
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // lstat: a link shows as a link, not as what it points at (which may be
            // outside the sandbox).
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            listing.push((format!("{base}/{name}"), metadata));
        }
    }
    listing.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(listing)
}

fn read_blocking(sandboxes: &Sandboxes, params: &HashMap<String, String>) -> Response {
    // Check the numbers before touching the disk.
    let offset = match params.get("offset").map(|v| v.parse::<i64>()) {
        None => -1,
        Some(Ok(n)) if n >= -1 => n,
        Some(Ok(n)) => return bad_request(format!("Negative offset provided: {n}.")),
        Some(Err(e)) => return bad_request(format!("Failed to parse offset: {e}.")),
    };
    let length = match params.get("length").map(|v| v.parse::<i64>()) {
        None | Some(Ok(-1)) => None,
        Some(Ok(n)) if n >= 0 => u64::try_from(n).ok(),
        Some(Ok(n)) => return bad_request(format!("Negative length provided: {n}.")),
        Some(Err(e)) => return bad_request(format!("Failed to parse length: {e}.")),
    };
    // offset=-1 asks for the size alone.
    let (start, length) = if offset == -1 {
        (0, Some(0))
    } else {
        (offset.unsigned_abs(), length)
    };
    match path_param(params).and_then(|requested| read_file(sandboxes, requested, start, length)) {
        Ok((size, data)) => {
            let shown = if offset == -1 { size } else { start };
            let data = String::from_utf8_lossy(&data);
            json_response(&json!({"offset": shown, "data": data}))
        }
        Err((status, message)) => text(status, message),
    }
}

/// The size of the file `requested` leads to, and up to `length` of its bytes (capped
/// at 16 pages) from `offset`. `/files/read` and the operator API's READ_FILE.
pub(crate) fn read_file(
    sandboxes: &Sandboxes,
    requested: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<(u64, Vec<u8>), (StatusCode, String)> {
    let resolved = resolve_path(sandboxes, requested)?;
    if resolved.is_dir() {
        return Err((
            StatusCode::BAD_REQUEST,
            "Cannot read a directory.\n".to_string(),
        ));
    }
    read_range(&resolved, offset, length).map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to read '{}': {e}.\n", resolved.display()),
        )
    })
}

/// The file's size and up to `length` bytes (capped) from `offset`.
fn read_range(path: &Path, offset: u64, length: Option<u64>) -> std::io::Result<(u64, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let size = file.seek(SeekFrom::End(0))?;
    if offset >= size {
        return Ok((size, Vec::new()));
    }
    let cap = u64::try_from(page_size() * READ_PAGES).unwrap_or(u64::MAX);
    let length = length.unwrap_or(size - offset).min(cap);
    if length == 0 {
        return Ok((size, Vec::new()));
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::new();
    file.take(length).read_to_end(&mut data)?;
    Ok((size, data))
}

fn download_blocking(sandboxes: &Sandboxes, params: &HashMap<String, String>) -> Response {
    let resolved = match path_param(params).and_then(|requested| resolve_path(sandboxes, requested))
    {
        Ok(resolved) => resolved,
        Err((status, message)) => return text(status, message),
    };
    if resolved.is_dir() {
        return bad_request("Cannot download a directory.".to_string());
    }
    let bytes = match std::fs::read(&resolved) {
        Ok(bytes) => bytes,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to read '{}': {e}.\n", resolved.display()),
            );
        }
    };
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let content_type = content_type(&resolved);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename={name}"),
            ),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// The mime type of a few common extensions; `application/octet-stream` otherwise.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt" | "log") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("csv") => "text/csv",
        Some("js") => "application/javascript",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("gz" | "tgz") => "application/x-gzip",
        Some("tar") => "application/x-tar",
        Some("zip") => "application/zip",
        Some("bz2") => "application/x-bzip2",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

/// The `path` parameter, or 400.
fn path_param(params: &HashMap<String, String>) -> Result<&str, (StatusCode, String)> {
    params.get("path").map(String::as_str).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            "Expecting 'path=value' in query.\n".to_string(),
        )
    })
}

/// Where `requested` leads, or the status and message that say why not.
fn resolve_path(
    sandboxes: &Sandboxes,
    requested: &str,
) -> Result<std::path::PathBuf, (StatusCode, String)> {
    sandboxes.resolve(requested).map_err(|refusal| {
        let (status, why) = match refusal {
            Refusal::NotFound(why) => (StatusCode::NOT_FOUND, why),
            Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why),
            Refusal::Failed(why) => (StatusCode::INTERNAL_SERVER_ERROR, why),
        };
        (status, format!("{why}.\n"))
    })
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

fn json_response(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn bad_request(message: String) -> Response {
    text(StatusCode::BAD_REQUEST, format!("{message}\n"))
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_are_ranges_capped_at_sixteen_pages() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stdout");
        std::fs::write(&file, "hello world\n").unwrap();
        assert_eq!(
            read_range(&file, 0, None).unwrap(),
            (12, b"hello world\n".to_vec())
        );
        assert_eq!(
            read_range(&file, 6, Some(5)).unwrap(),
            (12, b"world".to_vec())
        );
        assert_eq!(read_range(&file, 0, Some(0)).unwrap(), (12, Vec::new()));
        assert_eq!(read_range(&file, 50, None).unwrap(), (12, Vec::new()));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; page_size() * READ_PAGES + 10]).unwrap();
        assert_eq!(
            read_range(&big, 0, None).unwrap().1.len(),
            page_size() * READ_PAGES
        );
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type(Path::new("/a/stdout")),
            "application/octet-stream"
        );
        assert_eq!(content_type(Path::new("/a/b.JSON")), "application/json");
        assert_eq!(content_type(Path::new("/a/b.tar.gz")), "application/x-gzip");
    }
}
