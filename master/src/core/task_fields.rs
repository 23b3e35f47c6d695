//! Checks of a task's or executor's sub-messages that Mesos's master makes whatever
//! the agent runs (its `common::validation`): the generic check, the health check and
//! the ContainerInfo. A fault here is TASK_ERROR before anything reaches an agent;
//! what an agent cannot run (an image, a Docker container) is the agent's to refuse.

use ratufa_proto::v1::container_info::Type as ContainerType;
use ratufa_proto::v1::volume::source::Type as SourceType;
use ratufa_proto::v1::{CheckInfo, CommandInfo, ContainerInfo, HealthCheck, Volume};
use ratufa_proto::v1::{check_info, health_check};

/// A CheckInfo (`TaskInfo.check`).
pub fn validate_check(check: &CheckInfo) -> Result<(), String> {
    let Some(kind) = check.r#type else {
        return Err("CheckInfo must specify 'type'".to_string());
    };
    match check_info::Type::try_from(kind) {
        Ok(check_info::Type::Command) => {
            let command = check
                .command
                .as_ref()
                .ok_or("Expecting 'command' to be set for COMMAND check")?;
            command_has_value(&command.command, "Command check")?;
        }
        Ok(check_info::Type::Http) => {
            let http = check
                .http
                .as_ref()
                .ok_or("Expecting 'http' to be set for HTTP check")?;
            if let Some(path) = &http.path
                && !path.starts_with('/')
            {
                return Err(format!(
                    "The path '{path}' of HTTP check must start with '/'"
                ));
            }
        }
        Ok(check_info::Type::Tcp) => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP check".to_string());
            }
        }
        Ok(check_info::Type::Unknown) | Err(_) => {
            return Err(format!("'{kind}' is not a valid check type"));
        }
    }
    non_negative(&[
        ("delay_seconds", check.delay_seconds),
        ("interval_seconds", check.interval_seconds),
        ("timeout_seconds", check.timeout_seconds),
    ])
}

/// A HealthCheck (`TaskInfo.health_check`). Without a `type`, the kind is taken from
/// which of `command` and `http` is set, as Mesos's master does for old frameworks.
pub fn validate_health_check(check: &HealthCheck) -> Result<(), String> {
    let kind = ratufa_proto::health_check::kind(check);
    if kind.is_none() && check.r#type.is_none() {
        return Err("HealthCheck must specify 'type'".to_string());
    }
    match kind {
        Some(health_check::Type::Command) => {
            let command = check
                .command
                .as_ref()
                .ok_or("Expecting 'command' to be set for COMMAND health check")?;
            command_has_value(command, "Command health check")?;
        }
        Some(health_check::Type::Http) => {
            let http = check
                .http
                .as_ref()
                .ok_or("Expecting 'http' to be set for HTTP health check")?;
            if let Some(scheme) = &http.scheme
                && scheme != "http"
                && scheme != "https"
            {
                return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
            }
            if let Some(path) = &http.path
                && !path.starts_with('/')
            {
                return Err(format!(
                    "The path '{path}' of HTTP health check must start with '/'"
                ));
            }
        }
        Some(health_check::Type::Tcp) => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP health check".to_string());
            }
        }
        Some(health_check::Type::Unknown) | None => {
            return Err(format!(
                "'{}' is not a valid health check type",
                check.r#type.unwrap_or_default()
            ));
        }
    }
    non_negative(&[
        ("delay_seconds", check.delay_seconds),
        ("grace_period_seconds", check.grace_period_seconds),
        ("interval_seconds", check.interval_seconds),
        ("timeout_seconds", check.timeout_seconds),
    ])
}

/// A ContainerInfo (`TaskInfo.container`, `ExecutorInfo.container`): its volumes, and
/// a DOCKER one's DockerInfo.
pub fn validate_container(container: &ContainerInfo) -> Result<(), String> {
    for volume in &container.volumes {
        validate_volume(volume).map_err(|e| format!("Invalid volume: {e}"))?;
    }
    if container.r#type == ContainerType::Docker as i32 {
        let docker = container
            .docker
            .as_ref()
            .ok_or("DockerInfo 'docker' is not set for DOCKER typed ContainerInfo")?;
        // The Docker containerizer names its containers itself.
        if docker.parameters.iter().any(|p| p.key == "name") {
            return Err("Parameter in DockerInfo must not be 'name'".to_string());
        }
    }
    Ok(())
}

fn validate_volume(volume: &Volume) -> Result<(), String> {
    let sources = [
        volume.host_path.is_some(),
        volume.image.is_some(),
        volume.source.is_some(),
    ];
    if sources.iter().filter(|set| **set).count() != 1 {
        return Err("Only one of them should be set: 'host_path', 'image' and 'source'".into());
    }
    let Some(source) = &volume.source else {
        return Ok(());
    };
    let (set, name) = match source.r#type.map(SourceType::try_from) {
        Some(Ok(SourceType::DockerVolume)) => (
            source.docker_volume.is_some(),
            "docker_volume' is not set for DOCKER_VOLUME",
        ),
        Some(Ok(SourceType::HostPath)) => (
            source.host_path.is_some(),
            "host_path' is not set for HOST_PATH",
        ),
        Some(Ok(SourceType::SandboxPath)) => (
            source.sandbox_path.is_some(),
            "sandbox_path' is not set for SANDBOX_PATH",
        ),
        Some(Ok(SourceType::Secret)) => (source.secret.is_some(), "secret' is not set for SECRET"),
        Some(Ok(SourceType::CsiVolume)) => (
            source.csi_volume.is_some(),
            "csi_volume' is not set for CSI",
        ),
        Some(Ok(SourceType::Unknown) | Err(_)) | None => {
            return Err("'source.type' is unknown".to_string());
        }
    };
    if set {
        Ok(())
    } else {
        Err(format!("'source.{name} volume"))
    }
}

fn command_has_value(command: &CommandInfo, what: &str) -> Result<(), String> {
    if command.value.is_some() {
        return Ok(());
    }
    let form = if command.shell.unwrap_or(true) {
        "'shell command'"
    } else {
        "'executable path'"
    };
    Err(format!("{what} must contain {form}"))
}

fn non_negative(fields: &[(&str, Option<f64>)]) -> Result<(), String> {
    match fields
        .iter()
        .find(|(_, value)| value.is_some_and(|v| v < 0.0))
    {
        Some((name, _)) => Err(format!("Expecting '{name}' to be non-negative")),
        None => Ok(()),
    }
}
