//! Durable file operations for the checkpoint: a file is replaced whole (written to a
//! temporary name, fsynced, renamed over the old one, the directory fsynced), so a crash
//! leaves either the old contents or the new, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::AgentError;

/// Distinguishes the temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) fn error(path: &Path, reason: impl std::fmt::Display) -> AgentError {
    AgentError::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A name next to `path` that no other writer uses; starts with a dot so that a
/// leftover one (a crash before the rename) is never taken for a checkpointed id.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// fsync of a directory: makes the entries created, renamed or removed in it durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), AgentError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| error(dir, e))
}

/// Creates `dir` and its missing ancestors, each new entry made durable in its parent.
pub(super) fn create_dirs(dir: &Path) -> Result<(), AgentError> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir
        .parent()
        .ok_or_else(|| error(dir, "no parent directory"))?;
    create_dirs(parent)?;
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        // Another writer made it between our check and now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(error(dir, e)),
    }
    sync_dir(parent)
}

/// Replaces `path` with `contents` atomically and durably.
pub(super) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), AgentError> {
    let dir = path
        .parent()
        .ok_or_else(|| error(path, "no parent directory"))?;
    create_dirs(dir)?;
    let temp = temp_name(path);
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error(path, e));
    }
    sync_dir(dir)
}

/// Points the symlink `link` at `target` atomically (a new link renamed over the old).
pub(super) fn symlink_atomic(target: &Path, link: &Path) -> Result<(), AgentError> {
    let dir = link
        .parent()
        .ok_or_else(|| error(link, "no parent directory"))?;
    create_dirs(dir)?;
    let temp = temp_name(link);
    let linked =
        std::os::unix::fs::symlink(target, &temp).and_then(|()| std::fs::rename(&temp, link));
    if let Err(e) = linked {
        let _ = std::fs::remove_file(&temp);
        return Err(error(link, e));
    }
    sync_dir(dir)
}

/// Removes `dir` and all it holds; a directory already gone is not an error.
pub(super) fn remove_tree(dir: &Path) -> Result<(), AgentError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(error(dir, e)),
    }
    match dir.parent() {
        Some(parent) if parent.is_dir() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// The names of the subdirectories of `dir`, sorted; none when it does not exist.
/// Dot names (temporary files, never ids) are left out.
pub(super) fn subdirs(dir: &Path) -> Result<Vec<String>, AgentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(error(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| error(dir, e))?;
        let is_dir = entry.file_type().map_err(|e| error(dir, e))?.is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The contents of `path`, `None` when it does not exist.
pub(super) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, AgentError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(path, e)),
    }
}
