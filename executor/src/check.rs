//! Generic checks (TaskInfo.check, Mesos 1.4+) as Mesos's built-in executors run them:
//! the same probes and timing as health checks (`probe`), with nothing judged and
//! nothing killed. The result goes to the scheduler as it is: a command's exit code,
//! an HTTP status code, whether a TCP connection was made; an empty result of the
//! check's type when there is none (not run yet, timed out, no answer). A result is
//! reported only when it differs from the last one, the first compared with the empty
//! one every update of the task carries from its start.

use std::path::Path;

use ratufa_agent::process::ProcessSpec;
use ratufa_proto::v1::check_info::Type as CheckType;
use ratufa_proto::v1::check_status_info::{Command, Http, Tcp};
use ratufa_proto::v1::{CheckInfo, CheckStatusInfo};
use tokio::sync::mpsc;

use crate::probe::{self, Outcome, Probe, Reading, Timing};
use crate::task::TaskEvent;
use crate::user::Account;

/// A task's check, with Mesos's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    pub kind: CheckType,
    pub probe: Probe,
    pub timing: Timing,
}

impl CheckConfig {
    /// Reads `check`; a command check runs in `sandbox`. Errors name the field.
    pub fn from_proto(check: &CheckInfo, sandbox: &Path) -> Result<CheckConfig, String> {
        let kind = check
            .r#type
            .and_then(|t| CheckType::try_from(t).ok())
            .filter(|t| *t != CheckType::Unknown)
            .ok_or("check.type must be COMMAND, HTTP or TCP")?;
        let probe = match kind {
            CheckType::Command => {
                let command = check
                    .command
                    .as_ref()
                    .ok_or("check.command is required for a COMMAND check")?;
                let spec = ProcessSpec::from_command(&command.command, sandbox.to_path_buf())
                    .map_err(|e| format!("check.command.command: {e}"))?;
                Probe::Command(spec)
            }
            CheckType::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or("check.http is required for an HTTP check")?;
                let port = probe::port("check.http.port", http.port)?;
                Probe::Http {
                    uri: probe::http_uri("check", "http", None, port, http.path.as_deref())?,
                }
            }
            CheckType::Tcp => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or("check.tcp is required for a TCP check")?;
                Probe::Tcp {
                    addr: std::net::SocketAddr::new(
                        probe::loopback(None),
                        probe::port("check.tcp.port", tcp.port)?,
                    ),
                }
            }
            CheckType::Unknown => return Err("check.type must be COMMAND, HTTP or TCP".into()),
        };
        Ok(CheckConfig {
            kind,
            probe,
            timing: Timing::from_proto(
                "check",
                check.delay_seconds,
                check.interval_seconds,
                check.timeout_seconds,
            )?,
        })
    }
}

/// The status of a check of `kind` with no result: its type, and its result message
/// present and empty. `None` for a kind that is no check.
pub fn empty_status(kind: i32) -> Option<CheckStatusInfo> {
    let kind = CheckType::try_from(kind).ok()?;
    let mut status = CheckStatusInfo {
        r#type: Some(kind as i32),
        ..CheckStatusInfo::default()
    };
    match kind {
        CheckType::Command => status.command = Some(Command::default()),
        CheckType::Http => status.http = Some(Http::default()),
        CheckType::Tcp => status.tcp = Some(Tcp::default()),
        CheckType::Unknown => return None,
    }
    Some(status)
}

/// The status a probe's `outcome` makes for a check of `kind`.
pub fn status_of(kind: CheckType, outcome: &Outcome) -> CheckStatusInfo {
    let mut status = empty_status(kind as i32).unwrap_or_default();
    match (kind, outcome) {
        (CheckType::Command, Some(Ok(Reading::Exited(code)))) => {
            status.command = Some(Command {
                exit_code: Some(*code),
            });
        }
        (CheckType::Http, Some(Ok(Reading::Answered(code)))) => {
            status.http = Some(Http {
                status_code: Some(u32::from(*code)),
            });
        }
        // A connection made or refused is the TCP check's result; a timeout is none.
        (CheckType::Tcp, Some(result)) => {
            status.tcp = Some(Tcp {
                succeeded: Some(matches!(result, Ok(Reading::Connected))),
            });
        }
        _ => {}
    }
    status
}

/// Checks `task_id` until aborted (the executor aborts it when the task is killed or
/// ends), sending each new result as a [`TaskEvent::Check`].
pub async fn run(
    task_id: String,
    config: CheckConfig,
    account: Option<Account>,
    events: mpsc::UnboundedSender<TaskEvent>,
) {
    let mut last = empty_status(config.kind as i32).unwrap_or_default();
    probe::run(&config.probe, &config.timing, &account, |outcome| {
        if let Some(Err(why)) = &outcome {
            tracing::debug!(task_id = %task_id, why, "check had no result");
        }
        let status = status_of(config.kind, &outcome);
        if status == last {
            return true;
        }
        last = status;
        events
            .send(TaskEvent::Check {
                task_id: task_id.clone(),
                status,
            })
            .is_ok()
    })
    .await;
}

#[cfg(test)]
mod tests;
