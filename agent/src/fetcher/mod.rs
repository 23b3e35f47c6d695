//! The fetcher: before a task's command starts, each of its CommandInfo.uris is
//! fetched into the sandbox (Mesos's docs/fetcher.md):
//!
//! - `http://` and `https://` URLs (verified against the system's authorities, and
//!   the agent's LIBPROCESS_SSL_CA_FILE/CA_DIR when it has TLS), `file://` URIs and
//!   absolute paths;
//! - the file is named by `output_file` (relative to the sandbox, never out of it) or
//!   else by the URI's last path segment;
//! - `executable` makes it mode 755 (and then `extract` is ignored);
//! - `extract` (default true) unpacks archives by extension in the sandbox;
//! - `cache` goes through the agent's [`cache::Cache`]: one download for many tasks,
//!   bounded, LRU eviction. A cached archive that is extracted leaves only its
//!   contents in the sandbox.
//!
//! What it does is logged to the sandbox's `stderr`, a line per step, as Mesos does.
//! The first failure ends the fetch: the task fails with REASON_FETCHER_FAILED.

pub mod cache;
pub mod download;
pub mod extract;

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ratufa_proto::v1::CommandInfo;
use ratufa_proto::v1::command_info::Uri;
use tokio::sync::{mpsc, oneshot};

use crate::process::Exit;
use crate::runner::{self, Progress, Report};

/// Mesos's `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_CACHE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// Parses Mesos's byte sizes: a number (fractions allowed) and a unit of B, KB, MB,
/// GB or TB (powers of 1024); a bare number is bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 2GB or 512MB"))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => return Err(format!("'{other}' is not a unit of B, KB, MB, GB or TB")),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes as u64)
}

/// A failed fetch: the URI and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub uri: String,
    pub reason: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Failed to fetch '{}': {}", self.uri, self.reason)
    }
}

/// The agent's fetcher, shared by its tasks.
#[derive(Debug)]
pub struct Fetcher {
    cache: cache::Cache,
    client: download::WebClient,
}

impl Fetcher {
    /// A fetcher whose cache lives in `cache_dir`, bounded by `cache_size` bytes;
    /// `tls` is the agent's (its CA is trusted for https URIs too).
    pub fn new(cache_dir: PathBuf, cache_size: u64, tls: Option<&ratufa_gateway::Tls>) -> Fetcher {
        Fetcher {
            cache: cache::Cache::new(cache_dir, cache_size),
            client: ratufa_gateway::tcp::web_client(tls),
        }
    }

    /// Fetches every URI into `sandbox`, in order; the first failure ends it.
    pub async fn fetch_all(&self, uris: &[Uri], sandbox: &Path) -> Result<(), FetchError> {
        for uri in uris {
            log(sandbox, &format!("Fetching URI '{}'", uri.value));
            match self.fetch(uri, sandbox).await {
                Ok(dest) => log(
                    sandbox,
                    &format!("Fetched '{}' to '{}'", uri.value, dest.display()),
                ),
                Err(reason) => {
                    let error = FetchError {
                        uri: uri.value.clone(),
                        reason,
                    };
                    log(sandbox, &error.to_string());
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// One URI; returns where it landed.
    async fn fetch(&self, uri: &Uri, sandbox: &Path) -> Result<PathBuf, String> {
        let source = download::source(&uri.value)?;
        let name = match uri.output_file.as_deref() {
            Some(output) if !output.is_empty() => output.to_string(),
            _ => download::basename(&uri.value)
                .ok_or_else(|| "cannot name the file from the URI; set output_file".to_string())?,
        };
        let dest = confine(sandbox, &name)?;
        let executable = uri.executable.unwrap_or(false);
        let archive = if executable || !uri.extract.unwrap_or(true) {
            None
        } else {
            extract::Archive::of(&name)
        };

        if uri.cache.unwrap_or(false) {
            let lease = self
                .cache
                .get(&uri.value, &name, |file| {
                    let source = source.clone();
                    let client = self.client.clone();
                    async move { download::fetch(&client, &source, &file).await }
                })
                .await?;
            log(
                sandbox,
                &format!("Using the cache file '{}'", lease.path().display()),
            );
            match archive {
                // Only the contents reach the sandbox.
                Some(kind) => unpack(kind, lease.path(), &name, &dest, sandbox).await?,
                None => {
                    tokio::fs::copy(lease.path(), &dest)
                        .await
                        .map_err(|e| format!("cannot copy from the cache: {e}"))?;
                }
            }
        } else {
            download::fetch(&self.client, &source, &dest).await?;
            if let Some(kind) = archive {
                unpack(kind, &dest, &name, &dest, sandbox).await?;
            }
        }
        if executable {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(|e| format!("cannot make {} executable: {e}", dest.display()))?;
        }
        Ok(dest)
    }
}

/// Extracts `archive` into the directory `dest` lies in (the sandbox, or the
/// output_file's directory), off the async threads.
async fn unpack(
    kind: extract::Archive,
    archive: &Path,
    name: &str,
    dest: &Path,
    sandbox: &Path,
) -> Result<(), String> {
    let into = dest.parent().unwrap_or(sandbox).to_path_buf();
    let (archive, name, into2) = (archive.to_path_buf(), name.to_string(), into.clone());
    tokio::task::spawn_blocking(move || extract::extract(kind, &archive, &name, &into2))
        .await
        .map_err(|e| format!("the extraction failed: {e}"))?
        .map_err(|e| format!("cannot extract it: {e}"))?;
    log(
        sandbox,
        &format!("Extracted '{}' into '{}'", dest.display(), into.display()),
    );
    Ok(())
}

/// `sandbox/relative`, its directories created, refused if `relative` is absolute,
/// climbs with `..`, or leads through a link out of the sandbox.
pub fn confine(sandbox: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    if relative.contains('\0')
        || !path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        || path.file_name().is_none()
    {
        return Err(format!(
            "output_file '{relative}' must be a file path inside the sandbox"
        ));
    }
    let dest = sandbox.join(path);
    let parent = dest.parent().unwrap_or(sandbox);
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let real_sandbox = sandbox
        .canonicalize()
        .map_err(|e| format!("the sandbox: {e}"))?;
    let real_parent = parent
        .canonicalize()
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let leaves = |p: &Path| !p.starts_with(&real_sandbox);
    if leaves(&real_parent) {
        return Err(format!("output_file '{relative}' leads out of the sandbox"));
    }
    // The file itself may be a link planted by an earlier URI.
    if let Ok(target) = dest.canonicalize()
        && leaves(&target)
    {
        return Err(format!("output_file '{relative}' leads out of the sandbox"));
    }
    Ok(dest)
}

/// Appends a line to the sandbox's stderr, where Mesos's fetcher logs.
fn log(sandbox: &Path, line: &str) {
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(sandbox.join("stderr"))
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::debug!(sandbox = %sandbox.display(), error = %e, "cannot write the fetcher log");
    }
}

/// What the agent spawns per executor: fetch the URIs (a kill meanwhile ends it), then
/// run the executor's command.
#[allow(clippy::too_many_arguments)] // what the runner takes, plus the fetcher
pub(crate) async fn fetch_and_run<K: Clone + std::fmt::Debug>(
    fetcher: Arc<Fetcher>,
    key: K,
    command: CommandInfo,
    sandbox: PathBuf,
    env: Vec<(String, String)>,
    container: runner::Container,
    mut kill: oneshot::Receiver<std::time::Duration>,
    reports: mpsc::UnboundedSender<Report<K>>,
) {
    if !command.uris.is_empty() {
        let failed = tokio::select! {
            result = fetcher.fetch_all(&command.uris, &sandbox) => match result {
                Ok(()) => None,
                Err(e) => Some(Progress::FetchFailed { message: e.to_string() }),
            },
            _ = &mut kill => Some(Progress::Exited {
                exit: Exit::Unknown("killed while fetching".to_string()),
            }),
        };
        if let Some(progress) = failed {
            let _ = reports.send(Report { key, progress });
            return;
        }
    }
    runner::run(key, command, sandbox, env, container, kill, reports).await;
}

#[cfg(test)]
mod tests;
