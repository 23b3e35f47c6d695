//! A registry store in ZooKeeper, shared by the masters of one `--zk` path.
//!
//! ZooKeeper refuses nodes over about 1 MB, and a registry of tens of thousands of
//! agents is larger, so the registry is split: chunks `<path>/g<generation>-<i>` hold
//! the bytes, and the head node `<path>` names the generation in use, how many chunks
//! it has and its length. A write creates a new generation's chunks, then switches the
//! head to them with a compare-and-set on the head's version: a deposed leader's switch
//! fails, and its chunks are removed. Chunks of other generations (an earlier write,
//! or a writer that died before its switch) are removed after each switch.
//!
//! The head is not under the election's path as a `<label>_<digits>` child, so it can
//! never be taken for a candidate.

use std::sync::Arc;

use ratufa_zk::{CreateMode, Session, ZkError};

use super::{RegistryStore, Stored, Version};
use crate::MasterError;

/// Chunks stay well below ZooKeeper's default 1 MB `jute.maxbuffer`.
pub const DEFAULT_CHUNK_BYTES: usize = 512 * 1024;

const HEAD_MAGIC: &str = "ratufa-registry 1";

/// The registry at `path` in the session's ensemble.
pub struct ZkStore<S: Session> {
    session: Arc<S>,
    path: String,
    chunk_bytes: usize,
}

/// What the head node says.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    generation: String,
    chunks: usize,
    length: usize,
}

impl Head {
    fn encode(&self) -> Vec<u8> {
        format!(
            "{HEAD_MAGIC} {} {} {}",
            self.generation, self.chunks, self.length
        )
        .into_bytes()
    }

    /// `None` for the empty head a first write creates.
    fn decode(data: &[u8]) -> Result<Option<Head>, String> {
        if data.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(data).map_err(|_| "the head is not text".to_string())?;
        let fields: Vec<&str> = text.split(' ').collect();
        let [magic_a, magic_b, generation, chunks, length] = fields[..] else {
            return Err(format!(
                "the head {text:?} has {} fields, not 5",
                fields.len()
            ));
        };
        if format!("{magic_a} {magic_b}") != HEAD_MAGIC {
            return Err(format!("the head {text:?} is not a ratufa registry head"));
        }
        let number = |what: &str, n: &str| {
            n.parse::<usize>()
                .map_err(|_| format!("the head's {what} {n:?} is not a number"))
        };
        Ok(Some(Head {
            generation: generation.to_string(),
            chunks: number("chunk count", chunks)?,
            length: number("length", length)?,
        }))
    }
}

fn zk_error(error: ZkError) -> MasterError {
    match error {
        ZkError::BadVersion(_) | ZkError::NodeExists(_) => {
            MasterError::RegistryConflict { store: "ZooKeeper" }
        }
        other => MasterError::RegistryZk(other),
    }
}

impl<S: Session> ZkStore<S> {
    /// The registry at `path` (e.g. `<zk path>/registry`).
    pub fn new(session: Arc<S>, path: impl Into<String>) -> ZkStore<S> {
        ZkStore {
            session,
            path: path.into(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }

    /// The same, with chunks of at most `bytes` (tests use small ones).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> ZkStore<S> {
        self.chunk_bytes = bytes.max(1);
        self
    }

    fn chunk_path(&self, generation: &str, index: usize) -> String {
        format!("{}/g{generation}-{index}", self.path)
    }

    /// Removes chunks not of `keep` (best effort: a failure leaves garbage that the
    /// next write removes).
    async fn remove_other_generations(&self, keep: &str) {
        let Ok((children, _)) = self.session.get_children_watch(&self.path).await else {
            return;
        };
        let prefix = format!("g{keep}-");
        for child in children.iter().filter(|c| !c.starts_with(&prefix)) {
            let path = format!("{}/{child}", self.path);
            if let Err(error) = self.session.delete(&path, None).await {
                tracing::debug!(%path, %error, "could not remove an old registry chunk");
            }
        }
    }
}

impl<S: Session> RegistryStore for ZkStore<S> {
    fn name(&self) -> &'static str {
        "ZooKeeper"
    }

    async fn fetch(&self) -> Result<Option<Stored>, MasterError> {
        let (head, version) = match self.session.get_data(&self.path).await {
            Ok(found) => found,
            Err(ZkError::NoNode(_)) => return Ok(None),
            Err(error) => return Err(MasterError::RegistryZk(error)),
        };
        let corrupt = |reason: String| MasterError::RegistryCorrupt {
            store: "ZooKeeper",
            reason: format!("{}: {reason}", self.path),
        };
        let Some(head) = Head::decode(&head).map_err(corrupt)? else {
            return Ok(None);
        };
        let mut data = Vec::with_capacity(head.length);
        for index in 0..head.chunks {
            let path = self.chunk_path(&head.generation, index);
            let (chunk, _) = self.session.get_data(&path).await.map_err(|e| match e {
                ZkError::NoNode(_) => corrupt(format!("chunk {path} is missing")),
                other => MasterError::RegistryZk(other),
            })?;
            data.extend_from_slice(&chunk);
        }
        if data.len() != head.length {
            return Err(corrupt(format!(
                "the chunks hold {} bytes, the head says {}",
                data.len(),
                head.length
            )));
        }
        Ok(Some(Stored {
            data,
            version: u64::try_from(version).unwrap_or(0),
        }))
    }

    async fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> Result<Version, MasterError> {
        let expected_zk = match expected {
            // The first write creates an empty head to hang the chunks under; a second
            // first writer finds it and conflicts.
            None => {
                if let Some((parent, _)) = self.path.rsplit_once('/')
                    && !parent.is_empty()
                {
                    ratufa_zk::session::ensure_path(&*self.session, parent)
                        .await
                        .map_err(MasterError::RegistryZk)?;
                }
                self.session
                    .create(&self.path, &[], CreateMode::Persistent)
                    .await
                    .map_err(zk_error)?;
                0
            }
            Some(version) => i32::try_from(version)
                .map_err(|_| MasterError::RegistryConflict { store: "ZooKeeper" })?,
        };
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let chunks: Vec<&[u8]> = data.chunks(self.chunk_bytes).collect();
        let mut written = Vec::with_capacity(chunks.len());
        let mut outcome = Ok(());
        for (index, chunk) in chunks.iter().enumerate() {
            let path = self.chunk_path(&generation, index);
            match self
                .session
                .create(&path, chunk, CreateMode::Persistent)
                .await
            {
                Ok(path) => written.push(path),
                Err(error) => {
                    outcome = Err(zk_error(error));
                    break;
                }
            }
        }
        let head = Head {
            generation: generation.clone(),
            chunks: chunks.len(),
            length: data.len(),
        };
        let switched = match outcome {
            Ok(()) => self
                .session
                .set_data(&self.path, &head.encode(), Some(expected_zk))
                .await
                .map_err(zk_error),
            Err(error) => Err(error),
        };
        match switched {
            Ok(version) => {
                self.remove_other_generations(&generation).await;
                Ok(u64::try_from(version).unwrap_or(0))
            }
            Err(error) => {
                for path in written {
                    let _ = self.session.delete(&path, None).await;
                }
                Err(error)
            }
        }
    }
}
