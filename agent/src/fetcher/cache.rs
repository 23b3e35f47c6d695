//! The fetcher cache: one file per URI under `--fetcher_cache_dir`, bounded by
//! `--fetcher_cache_size`, least recently used first out. Tasks asking for the same
//! URI at once share one download; a file in use (being copied or extracted into a
//! sandbox) is never evicted. A file that does not fit is used once and then dropped,
//! which is Mesos's "bypass" in effect.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

/// Names of our cache files start with this, so that a restart clears only ours.
const PREFIX: &str = "ratufa-fetch-";

type Outcome = Result<u64, String>;

#[derive(Debug)]
struct Entry {
    file: PathBuf,
    /// Set once, by the one download; everyone else waits on it.
    ready: Arc<OnceCell<Outcome>>,
    /// Counted in `used` (set when the download succeeded).
    size: Option<u64>,
    last_use: u64,
    /// Leases out on this file.
    users: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    used: u64,
    tick: u64,
}

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    capacity: u64,
    state: Arc<Mutex<State>>,
}

/// A cache file held for use; it is not evicted until the lease is dropped.
#[derive(Debug)]
pub struct Lease {
    key: String,
    file: PathBuf,
    state: Arc<Mutex<State>>,
    capacity: u64,
}

impl Lease {
    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(entry) = state.entries.get_mut(&self.key) {
            entry.users = entry.users.saturating_sub(1);
        }
        evict(&mut state, self.capacity);
    }
}

impl Cache {
    /// A cache in `dir` holding at most `capacity` bytes. Files a previous run of the
    /// agent left there are removed.
    pub fn new(dir: PathBuf, capacity: u64) -> Cache {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(PREFIX) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Cache {
            dir,
            capacity,
            state: Arc::default(),
        }
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        lock(&self.state).used
    }

    /// Whether `key` has a downloaded file in the cache.
    pub fn contains(&self, key: &str) -> bool {
        lock(&self.state)
            .entries
            .get(key)
            .is_some_and(|e| e.size.is_some())
    }

    /// The cache file of `key`, filled by `fill(path)` (which returns the bytes it
    /// wrote) if it is not there yet. Concurrent callers for one key share one fill;
    /// a failed fill is forgotten so that the next caller tries again.
    pub async fn get<F, Fut>(&self, key: &str, name: &str, fill: F) -> Result<Lease, String>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let (file, ready) = {
            let mut state = lock(&self.state);
            state.tick += 1;
            let tick = state.tick;
            let dir = &self.dir;
            let entry = state
                .entries
                .entry(key.to_string())
                .or_insert_with(|| Entry {
                    file: dir.join(format!(
                        "{PREFIX}{}-{}",
                        uuid::Uuid::new_v4(),
                        sanitize(name)
                    )),
                    ready: Arc::new(OnceCell::new()),
                    size: None,
                    last_use: tick,
                    users: 0,
                });
            entry.users += 1;
            entry.last_use = tick;
            (entry.file.clone(), entry.ready.clone())
        };
        // From here the entry is pinned: a lease (or the failure path) unpins it.
        let lease = Lease {
            key: key.to_string(),
            file: file.clone(),
            state: self.state.clone(),
            capacity: self.capacity,
        };
        let dir = self.dir.clone();
        let outcome = ready
            .get_or_init(|| async {
                if let Err(e) = tokio::fs::create_dir_all(&dir).await {
                    return Err(format!(
                        "cannot create the cache dir {}: {e}",
                        dir.display()
                    ));
                }
                fill(file.clone()).await
            })
            .await
            .clone();
        let mut state = lock(&self.state);
        match outcome {
            Ok(size) => {
                if let Some(entry) = state.entries.get_mut(key)
                    && Arc::ptr_eq(&entry.ready, &ready)
                    && entry.size.is_none()
                {
                    entry.size = Some(size);
                    state.used += size;
                }
                evict(&mut state, self.capacity);
                drop(state);
                Ok(lease)
            }
            Err(e) => {
                if state
                    .entries
                    .get(key)
                    .is_some_and(|entry| Arc::ptr_eq(&entry.ready, &ready))
                    && let Some(entry) = state.entries.remove(key)
                {
                    let _ = std::fs::remove_file(&entry.file);
                }
                drop(state);
                // The entry is gone; the lease's drop finds nothing to unpin.
                drop(lease);
                Err(e)
            }
        }
    }
}

/// Removes least recently used files nobody holds until the cache fits.
fn evict(state: &mut State, capacity: u64) {
    while state.used > capacity {
        let victim = state
            .entries
            .iter()
            .filter(|(_, e)| e.users == 0 && e.size.is_some())
            .min_by_key(|(_, e)| e.last_use)
            .map(|(k, _)| k.clone());
        let Some(key) = victim else { break };
        if let Some(entry) = state.entries.remove(&key) {
            state.used = state.used.saturating_sub(entry.size.unwrap_or(0));
            if let Err(e) = std::fs::remove_file(&entry.file) {
                tracing::warn!(file = %entry.file.display(), error = %e, "cannot remove an evicted cache file");
            }
            tracing::debug!(uri = %key, "evicted from the fetcher cache");
        }
    }
}

/// A file-name-safe version of `name`, so the cache file keeps the archive's extension.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn write(path: &Path, size: usize) -> Outcome {
        std::fs::write(path, vec![b'x'; size]).map_err(|e| e.to_string())?;
        Ok(size as u64)
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_download() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::new(dir.path().join("c"), 1 << 20));
        let fills = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let fills = fills.clone();
            tasks.push(tokio::spawn(async move {
                let lease = cache
                    .get("http://h/a.tgz", "a.tgz", |path| async move {
                        fills.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        write(&path, 10)
                    })
                    .await
                    .unwrap();
                std::fs::read(lease.path()).unwrap().len()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 10);
        }
        assert_eq!(fills.load(Ordering::SeqCst), 1);
        assert_eq!(cache.used(), 10);
        // A later request is a hit.
        let lease = cache
            .get("http://h/a.tgz", "a.tgz", |_| async {
                Err("no".to_string())
            })
            .await
            .unwrap();
        assert!(lease.path().to_string_lossy().ends_with("a.tgz"));
    }

    #[tokio::test]
    async fn a_failed_download_is_retried_by_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf(), 100);
        let err = cache
            .get("u", "u", |_| async { Err("HTTP 404".to_string()) })
            .await
            .unwrap_err();
        assert_eq!(err, "HTTP 404");
        assert!(!cache.contains("u"));
        cache
            .get("u", "u", |p| async move { write(&p, 5) })
            .await
            .unwrap();
        assert!(cache.contains("u"));
    }

    #[tokio::test]
    async fn least_recently_used_files_are_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf(), 25);
        for key in ["a", "b"] {
            cache
                .get(key, key, |p| async move { write(&p, 10) })
                .await
                .unwrap();
        }
        // Touch a, so that b is the oldest.
        let a = cache
            .get("a", "a", |_| async { Err("miss".into()) })
            .await
            .unwrap();
        let a_file = a.path().to_path_buf();
        drop(a);
        let c = cache
            .get("c", "c", |p| async move { write(&p, 10) })
            .await
            .unwrap();
        assert!(cache.contains("a"));
        assert!(!cache.contains("b"));
        assert!(cache.contains("c"));
        assert_eq!(cache.used(), 20);
        assert!(a_file.exists());
        drop(c);
        // Files on disk match the books: two left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[tokio::test]
    async fn files_in_use_stay_and_oversized_files_go_after_use() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf(), 10);
        let a = cache
            .get("a", "a", |p| async move { write(&p, 8) })
            .await
            .unwrap();
        // b does not fit beside a, and a is in use: both stay while held.
        let b = cache
            .get("b", "b", |p| async move { write(&p, 8) })
            .await
            .unwrap();
        assert!(a.path().exists() && b.path().exists());
        drop(a);
        // a (now free and oldest) went to make room.
        assert!(!cache.contains("a"));
        assert!(cache.contains("b"));
        drop(b);
        // Larger than the whole cache: used once, then dropped.
        let big = cache
            .get("big", "big", |p| async move { write(&p, 50) })
            .await
            .unwrap();
        assert!(big.path().exists());
        let path = big.path().to_path_buf();
        drop(big);
        assert!(!path.exists());
        assert!(cache.used() <= 10);
    }

    #[test]
    fn a_restart_clears_only_our_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{PREFIX}old")), b"x").unwrap();
        std::fs::write(dir.path().join("theirs"), b"x").unwrap();
        let _cache = Cache::new(dir.path().to_path_buf(), 10);
        assert!(!dir.path().join(format!("{PREFIX}old")).exists());
        assert!(dir.path().join("theirs").exists());
    }
}
