//! Starts on the starter threads: real children, started at once, each still running
//! after its start is long over (its thread did not end), each reaped with its status.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ratufa_agent::process::Exit;
use ratufa_proto::v1::CommandInfo;

use super::*;

fn shell(value: &str, cwd: &Path) -> ProcessSpec {
    ProcessSpec::shell(value, cwd.to_path_buf())
}

/// The threads of this process named "starter".
fn starter_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "starter")
        .count()
}

#[tokio::test(flavor = "current_thread")]
async fn many_starts_at_once_run_on_a_few_threads_and_their_children_outlive_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // Each child writes its pid, then waits to be told to end with its own number.
    let starts: Vec<_> = (0..24)
        .map(|i| {
            let spec = shell(
                &format!("echo $$ > pid{i}; while [ ! -e go ]; do sleep 0.05; done; exit {i}"),
                dir.path(),
            );
            async move { start_off_loop(&spec, Output::Null, None).await.unwrap() }
        })
        .collect();
    let mut children = futures::future::join_all(starts).await;
    let threads = starter_threads();
    assert!(
        (1..=MAX_THREADS).contains(&threads),
        "{threads} starter threads for 24 starts"
    );
    // Every child runs, ours (its pid is the one the shell reports), well after its
    // start: the threads that started them are still there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, child) in children.iter().enumerate() {
        let pid_file = dir.path().join(format!("pid{i}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(std::time::Instant::now() < deadline, "child {i} never ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(pid, child.id(), "child {i}");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        assert!(!stat.contains(") Z "), "child {i} ended early: {stat}");
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    for (i, child) in children.iter_mut().enumerate() {
        assert_eq!(Exit::from_status(child.wait().await), Exit::Code(i as i32));
    }
    assert!(starter_threads() >= threads, "the threads stay");
}

#[tokio::test(flavor = "current_thread")]
async fn a_program_that_does_not_exist_is_an_error_from_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let command = CommandInfo {
        shell: Some(false),
        value: Some("/nonexistent/program".to_string()),
        ..CommandInfo::default()
    };
    let spec = ProcessSpec::from_command(&command, dir.path().to_path_buf()).unwrap();
    let Err(error) = start_off_loop(&spec, Output::Null, None).await else {
        panic!("no such program, yet it started");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
}
