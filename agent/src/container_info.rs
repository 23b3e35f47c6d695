//! What this agent does with a ContainerInfo. It is Mesos's agent with
//! `--containerizers=mesos`, no `--image_providers` and only the posix or cgroups
//! isolators, so the one ContainerInfo it can honour is type MESOS asking for nothing
//! more: no image, volume, network, Linux namespace or capability, rlimit, terminal or
//! hostname. Anything else refuses the launch with the field named, instead of running
//! the task on the host as if it had asked for nothing (docs/COMPATIBILITY.md).

use ratufa_proto::v1::ContainerInfo;
use ratufa_proto::v1::container_info::Type as ContainerType;
use ratufa_proto::v1::image::Type as ImageType;
use ratufa_proto::v1::task_status::Reason;

/// Why a container is not launched: the reason and message its tasks' TASK_FAILED
/// carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

/// Checks `container`, which the framework gave as `field` (e.g.
/// `ExecutorInfo.container`), against what this agent can run.
#[allow(deprecated)] // LinuxInfo.capability_info: old frameworks still set it
pub fn check(container: &ContainerInfo, field: &str) -> Result<(), Refusal> {
    match ContainerType::try_from(container.r#type) {
        Ok(ContainerType::Mesos) => {}
        Ok(ContainerType::Docker) => {
            // Mesos's agent launches nothing when no containerizer takes the container,
            // and its tasks fail as of an executor whose container is unknown.
            return Err(Refusal {
                reason: Reason::ExecutorTerminated,
                message: format!(
                    "Abnormal executor termination: unknown container: {field}.type DOCKER \
                     is not supported: this agent runs the Mesos containerizer only \
                     (--containerizers=mesos)"
                ),
            });
        }
        Err(_) => {
            return Err(launch_failed(format!(
                "{field}.type {} is not a container type (DOCKER or MESOS)",
                container.r#type
            )));
        }
    }
    if let Some(image) = container.mesos.as_ref().and_then(|m| m.image.as_ref()) {
        let kind = ImageType::try_from(image.r#type)
            .map(|t| t.as_str_name())
            .unwrap_or("unknown");
        return Err(launch_failed(format!(
            "{field}.mesos.image is not supported: this agent has no image provider \
             (unsupported container image type {kind}); tasks run on the host's filesystem"
        )));
    }
    let unsupported = |part: &str, why: &str| {
        Err(launch_failed(format!(
            "{field}.{part} is not supported: {why}"
        )))
    };
    if !container.volumes.is_empty() {
        return unsupported(
            "volumes",
            "this agent has no filesystem isolator to mount volumes",
        );
    }
    if !container.network_infos.is_empty() {
        return unsupported(
            "network_infos",
            "this agent has no network isolator; tasks share the host's network",
        );
    }
    if container.hostname.is_some() {
        return unsupported(
            "hostname",
            "tasks share the host's UTS namespace and hostname",
        );
    }
    if container.docker.is_some() {
        return unsupported("docker", "DockerInfo is for containers of type DOCKER");
    }
    if let Some(linux) = &container.linux_info {
        // share_cgroups true is what every task here gets: its executor's cgroups.
        let asked = [
            ("capability_info", linux.capability_info.is_some()),
            (
                "bounding_capabilities",
                linux.bounding_capabilities.is_some(),
            ),
            (
                "effective_capabilities",
                linux.effective_capabilities.is_some(),
            ),
            ("share_pid_namespace", linux.share_pid_namespace.is_some()),
            ("seccomp", linux.seccomp.is_some()),
            ("ipc_mode", linux.ipc_mode.is_some()),
            ("shm_size", linux.shm_size.is_some()),
            ("share_cgroups", linux.share_cgroups == Some(false)),
        ];
        if let Some((part, _)) = asked.iter().find(|(_, set)| *set) {
            return unsupported(
                &format!("linux_info.{part}"),
                "this agent has no Linux namespace, capability or seccomp isolator",
            );
        }
    }
    if container.rlimit_info.is_some() {
        return unsupported(
            "rlimit_info",
            "this agent has no posix/rlimits isolator; tasks get the executor's limits",
        );
    }
    if container.tty_info.is_some() {
        return unsupported(
            "tty_info",
            "this agent cannot give a task a terminal (Mesos's I/O switchboard)",
        );
    }
    Ok(())
}

fn launch_failed(why: String) -> Refusal {
    Refusal {
        reason: Reason::ContainerLaunchFailed,
        message: format!("Failed to launch container: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use ratufa_proto::v1::container_info::{DockerInfo, MesosInfo};
    use ratufa_proto::v1::{Image, LinuxInfo, NetworkInfo, RLimitInfo, TtyInfo, Volume};

    use super::*;

    fn mesos() -> ContainerInfo {
        ContainerInfo {
            r#type: ContainerType::Mesos as i32,
            ..ContainerInfo::default()
        }
    }

    fn refusal(container: &ContainerInfo) -> Refusal {
        match check(container, "TaskInfo.container") {
            Err(refusal) => refusal,
            Ok(()) => panic!("{container:?} was accepted"),
        }
    }

    #[test]
    fn a_plain_mesos_container_runs() {
        assert_eq!(check(&mesos(), "TaskInfo.container"), Ok(()));
        let mut plain = mesos();
        plain.mesos = Some(MesosInfo { image: None });
        plain.linux_info = Some(LinuxInfo {
            share_cgroups: Some(true),
            ..LinuxInfo::default()
        });
        assert_eq!(check(&plain, "ExecutorInfo.container"), Ok(()));
    }

    #[test]
    fn docker_fails_as_an_unknown_container() {
        let docker = ContainerInfo {
            r#type: ContainerType::Docker as i32,
            docker: Some(DockerInfo {
                image: "alpine".into(),
                ..DockerInfo::default()
            }),
            ..ContainerInfo::default()
        };
        let refusal = refusal(&docker);
        assert_eq!(refusal.reason, Reason::ExecutorTerminated);
        assert!(
            refusal
                .message
                .contains("TaskInfo.container.type DOCKER is not supported"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn every_field_asking_for_more_is_named() {
        let image = Image {
            r#type: ImageType::Docker as i32,
            ..Image::default()
        };
        let with = |set: &dyn Fn(&mut ContainerInfo)| {
            let mut container = mesos();
            set(&mut container);
            container
        };
        let linux = |linux: LinuxInfo| with(&|c| c.linux_info = Some(linux.clone()));
        let cases = [
            (
                "TaskInfo.container.mesos.image",
                with(&|c| {
                    c.mesos = Some(MesosInfo {
                        image: Some(image.clone()),
                    })
                }),
            ),
            (
                "TaskInfo.container.volumes",
                with(&|c| c.volumes.push(Volume::default())),
            ),
            (
                "TaskInfo.container.network_infos",
                with(&|c| c.network_infos.push(NetworkInfo::default())),
            ),
            (
                "TaskInfo.container.hostname",
                with(&|c| c.hostname = Some("web".into())),
            ),
            (
                "TaskInfo.container.docker",
                with(&|c| c.docker = Some(DockerInfo::default())),
            ),
            (
                "TaskInfo.container.linux_info.share_pid_namespace",
                linux(LinuxInfo {
                    share_pid_namespace: Some(false),
                    ..LinuxInfo::default()
                }),
            ),
            (
                "TaskInfo.container.linux_info.share_cgroups",
                linux(LinuxInfo {
                    share_cgroups: Some(false),
                    ..LinuxInfo::default()
                }),
            ),
            (
                "TaskInfo.container.rlimit_info",
                with(&|c| c.rlimit_info = Some(RLimitInfo::default())),
            ),
            (
                "TaskInfo.container.tty_info",
                with(&|c| c.tty_info = Some(TtyInfo::default())),
            ),
            ("TaskInfo.container.type 7", with(&|c| c.r#type = 7)),
        ];
        for (field, container) in cases {
            let refusal = refusal(&container);
            assert_eq!(refusal.reason, Reason::ContainerLaunchFailed, "{field}");
            assert!(
                refusal.message.starts_with("Failed to launch container: ")
                    && refusal.message.contains(field),
                "{field}: {}",
                refusal.message
            );
        }
    }
}
