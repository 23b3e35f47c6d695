//! A registry store in a file under `--work_dir`, for a single master.
//!
//! `<work_dir>/registry` holds a magic line, the version (8 bytes, big endian) and the
//! registry. Writes go to `registry.tmp`, are synced, and renamed over the file (then
//! the directory is synced), so a master killed mid-write leaves the old registry or
//! the new one, never a torn one. `<work_dir>/registry.lock` is locked for as long as
//! the store is open: a second master on the same work_dir is refused at start.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{RegistryStore, Stored, Version};
use crate::MasterError;

const MAGIC: &[u8] = b"ratufa-registry 1\n";

/// The file store of one work_dir; clones share the lock.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    _lock: Arc<File>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MasterError + '_ {
    move |source| MasterError::RegistryIo {
        path: path.to_path_buf(),
        source,
    }
}

impl FileStore {
    /// Opens (and locks) the registry of `work_dir`, creating the directory.
    pub fn open(work_dir: &Path) -> Result<FileStore, MasterError> {
        fs::create_dir_all(work_dir).map_err(io_error(work_dir))?;
        let lock_path = work_dir.join("registry.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(MasterError::WorkDirInUse {
                    path: work_dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(MasterError::RegistryIo {
                    path: lock_path,
                    source,
                });
            }
        }
        Ok(FileStore {
            path: work_dir.join("registry"),
            _lock: Arc::new(lock),
        })
    }

    fn read(path: &Path) -> Result<Option<Stored>, MasterError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error(path)(source)),
        };
        let corrupt = |reason: &str| MasterError::RegistryCorrupt {
            store: "file",
            reason: format!("{}: {reason}", path.display()),
        };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| corrupt("not a ratufa registry (bad header)"))?;
        let (version, data) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt("truncated before its version"))?;
        Ok(Some(Stored {
            data: data.to_vec(),
            version: u64::from_be_bytes(*version),
        }))
    }

    fn write(path: &Path, data: &[u8], expected: Option<Version>) -> Result<Version, MasterError> {
        let current = Self::read(path)?.map(|s| s.version);
        if current != expected {
            return Err(MasterError::RegistryConflict { store: "file" });
        }
        let version = current.map_or(1, |v| v + 1);
        let tmp = path.with_extension("tmp");
        let mut file = File::create(&tmp).map_err(io_error(&tmp))?;
        file.write_all(MAGIC)
            .and_then(|()| file.write_all(&version.to_be_bytes()))
            .and_then(|()| file.write_all(data))
            .and_then(|()| file.sync_all())
            .map_err(io_error(&tmp))?;
        fs::rename(&tmp, path).map_err(io_error(path))?;
        // The rename is durable once the directory is.
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))?;
        }
        Ok(version)
    }
}

impl RegistryStore for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn fetch(&self) -> Result<Option<Stored>, MasterError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::read(&path))
            .await
            .map_err(|e| MasterError::RegistryCorrupt {
                store: "file",
                reason: format!("the read was cancelled: {e}"),
            })?
    }

    async fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> Result<Version, MasterError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::write(&path, &data, expected))
            .await
            .map_err(|e| MasterError::RegistryCorrupt {
                store: "file",
                reason: format!("the write was cancelled: {e}"),
            })?
    }
}
