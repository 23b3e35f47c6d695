//! Every status update an agent produced, by uuid, until it is settled: acknowledged
//! back to the agent, or dropped by the agent for a reason the run can name.

use std::collections::BTreeMap;

use ratufa_proto::v1::TaskState;

#[derive(Debug, Clone)]
pub struct Sent {
    pub framework_id: String,
    pub task_id: String,
    pub agent: String,
    pub state: TaskState,
    /// Whether its framework received it at least once.
    pub delivered: bool,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub open: BTreeMap<Vec<u8>, Sent>,
    /// Settled uuids and how, so that a late duplicate can be told from a forgery.
    pub settled: BTreeMap<Vec<u8>, &'static str>,
}

impl Ledger {
    pub fn sent(&mut self, uuid: Vec<u8>, sent: Sent) -> Result<(), String> {
        if self.open.contains_key(&uuid) || self.settled.contains_key(&uuid) {
            return Err(format!("uuid {} used twice", hex(&uuid)));
        }
        self.open.insert(uuid, sent);
        Ok(())
    }

    /// The framework got an UPDATE carrying `uuid`.
    pub fn delivered(
        &mut self,
        uuid: &[u8],
        framework_id: &str,
        task_id: &str,
    ) -> Result<(), String> {
        if let Some(sent) = self.open.get_mut(uuid) {
            if sent.framework_id != framework_id || sent.task_id != task_id {
                return Err(format!(
                    "update {} of task {} ({}) delivered to framework {framework_id} as task {task_id}",
                    hex(uuid),
                    sent.task_id,
                    sent.framework_id
                ));
            }
            sent.delivered = true;
            return Ok(());
        }
        if self.settled.contains_key(uuid) {
            // A retry that crossed its acknowledgement: harmless.
            return Ok(());
        }
        Err(format!(
            "framework {framework_id} got update {} for task {task_id} that no agent sent",
            hex(uuid)
        ))
    }

    pub fn settle(&mut self, uuid: &[u8], how: &'static str) -> Option<Sent> {
        let sent = self.open.remove(uuid)?;
        self.settled.insert(uuid.to_vec(), how);
        Some(sent)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
