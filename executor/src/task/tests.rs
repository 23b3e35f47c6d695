//! A task's process as `start` makes it: real children, a real user switch.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::user::lookup;

fn shell(value: &str, cwd: &Path) -> ProcessSpec {
    ProcessSpec::shell(value, cwd.to_path_buf())
}

/// A sandbox the task's user may write to, as the agent makes it for that user.
fn open_sandbox() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn sorted(mut numbers: Vec<u32>) -> Vec<u32> {
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

#[tokio::test]
async fn the_task_leads_a_process_group_of_its_own_as_its_user_with_its_groups() {
    let dir = open_sandbox();
    let nobody = lookup("nobody").unwrap();
    // $$ is the shell itself: the process `start` made (sh -c runs the script itself).
    let spec = shell(
        "echo $$ > pid; cut -d' ' -f5 /proc/$$/stat > pgid; id -u > uid; id -g > gid; \
         id -G > groups",
        dir.path(),
    );
    let mut child = start(&spec, Output::Null, Some(&nobody)).unwrap();
    assert_eq!(Exit::from_status(child.wait().await), Exit::Code(0));
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let pid: i32 = read("pid").trim().parse().unwrap();
    assert_eq!(pid, child.id());
    assert_eq!(
        read("pgid").trim(),
        pid.to_string(),
        "its own process group"
    );
    // SAFETY: getpgrp takes nothing and cannot fail.
    assert_ne!(pid, unsafe { libc::getpgrp() }, "not the executor's group");
    assert_eq!(read("uid").trim(), nobody.uid.to_string());
    assert_eq!(read("gid").trim(), nobody.gid.to_string());
    let groups = read("groups")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(sorted(groups), sorted(nobody.groups.clone()));
}

/// What the kernel does when the executor dies outright, as seen from children started
/// by a thread that then ends: the process goes too (a task, or a check's command),
/// also when it runs as another user (a change of identity clears the death signal,
/// so it is set after the switch).
#[tokio::test]
async fn the_task_dies_with_the_thread_that_started_it_also_as_another_user() {
    let dir = open_sandbox();
    let nobody = lookup("nobody").unwrap();
    let handle = tokio::runtime::Handle::current();
    let spec = shell("exec sleep 300", dir.path());
    let (mut as_nobody, mut as_us) = std::thread::spawn(move || {
        let _runtime = handle.enter();
        (
            start(&spec, Output::Null, Some(&nobody)).unwrap(),
            start(&spec, Output::Null, None).unwrap(),
        )
    })
    .join()
    .unwrap();
    for child in [&mut as_nobody, &mut as_us] {
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the kernel kills the child of the ended thread");
        assert_eq!(Exit::from_status(status), Exit::Signal(libc::SIGKILL));
    }
}

#[tokio::test]
async fn output_goes_to_the_executors_stdout_or_nowhere_and_stdin_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let spec = shell("exec sleep 300", dir.path());
    let target = |pid: i32, fd: i32| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
    let null = Path::new("/dev/null");
    for (output, stdout, stderr) in [
        (Output::Null, null.to_path_buf(), null.to_path_buf()),
        (
            Output::Inherit,
            target(std::process::id() as i32, 1),
            target(std::process::id() as i32, 2),
        ),
    ] {
        let mut child = start(&spec, output, None).unwrap();
        // The exec'd program (no longer the executor's copy) holds its descriptors.
        let exe = || std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !exe().ends_with("sleep") {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep never ran: {:?}",
                exe()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(target(child.id(), 0), null, "{output:?}");
        assert_eq!(target(child.id(), 1), stdout, "{output:?}");
        assert_eq!(target(child.id(), 2), stderr, "{output:?}");
        signal_group(child.id(), libc::SIGKILL);
        child.wait().await.unwrap();
    }
}
