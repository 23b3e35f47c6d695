use prost::Message;
use ratufa_proto::v1::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo,
    TaskState, TaskStatus,
};

use super::records::{self, Tail};
use super::*;

fn agent_info(id: &str) -> AgentInfo {
    AgentInfo {
        hostname: "host-1".to_string(),
        port: Some(5051),
        id: Some(AgentId {
            value: id.to_string(),
        }),
        ..Default::default()
    }
}

fn framework_info(id: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".to_string(),
        name: format!("framework {id}"),
        id: Some(FrameworkId {
            value: id.to_string(),
        }),
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn executor_info(id: &str) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId {
            value: id.to_string(),
        },
        name: Some(format!("executor {id}")),
        ..Default::default()
    }
}

fn task_info(id: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId {
            value: id.to_string(),
        },
        agent_id: AgentId {
            value: "a1".to_string(),
        },
        ..Default::default()
    }
}

fn update(task: &str, state: TaskState, uuid: u8) -> UpdateRecord {
    UpdateRecord::Update {
        status: TaskStatus {
            task_id: TaskId {
                value: task.to_string(),
            },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        },
        framework_id: FrameworkId {
            value: "f1".to_string(),
        },
    }
}

fn ack(uuid: u8) -> UpdateRecord {
    UpdateRecord::Ack {
        uuid: vec![uuid; 16],
    }
}

fn run(fw: &str, ex: &str, container: &str) -> RunPath {
    RunPath {
        agent_id: "a1".to_string(),
        framework_id: fw.to_string(),
        executor_id: ex.to_string(),
        container_id: container.to_string(),
    }
}

/// Files under `dir`, relative, sorted (to see what a write or a removal left behind).
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// An agent with two frameworks: f1 with one executor (two tasks, one run completed
/// earlier and one live), f2 with an executor whose pid was never written.
fn write_whole_agent(checkpoint: &Checkpoint) {
    checkpoint.write_agent(&agent_info("a1")).unwrap();
    checkpoint
        .write_framework("a1", &framework_info("f1"))
        .unwrap();
    checkpoint
        .write_framework("a1", &framework_info("f2"))
        .unwrap();
    checkpoint
        .write_executor("a1", "f1", &executor_info("e1"))
        .unwrap();
    checkpoint
        .write_executor("a1", "f2", &executor_info("e2"))
        .unwrap();

    let old = run("f1", "e1", "c0");
    // As an older ratufa wrote it: no start time.
    checkpoint.write_pid(&old, 4000, None).unwrap();
    checkpoint.write_task(&old, &task_info("t0")).unwrap();
    checkpoint
        .write_updates(&old, "t0", &[update("t0", TaskState::TaskFinished, 1)])
        .unwrap();
    checkpoint.mark_completed(&old).unwrap();

    let live = run("f1", "e1", "c1");
    checkpoint.write_pid(&live, 4242, Some(98_765)).unwrap();
    checkpoint.write_task(&live, &task_info("t1")).unwrap();
    checkpoint.write_task(&live, &task_info("t2")).unwrap();
    checkpoint
        .write_updates(
            &live,
            "t1",
            &[
                update("t1", TaskState::TaskRunning, 2),
                ack(2),
                update("t1", TaskState::TaskFinished, 3),
            ],
        )
        .unwrap();

    let no_pid = run("f2", "e2", "c2");
    checkpoint.write_task(&no_pid, &task_info("t3")).unwrap();
}

/// [`write_whole_agent`] in a fresh work dir (kept while the TempDir lives).
fn whole_agent() -> (tempfile::TempDir, Checkpoint) {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    write_whole_agent(&checkpoint);
    (dir, checkpoint)
}

/// Overwrites f1's framework.info with bytes that do not decode; returns its path.
fn spoil_framework_info(checkpoint: &Checkpoint) -> std::path::PathBuf {
    let path = checkpoint
        .framework_dir("a1", "f1")
        .unwrap()
        .join("framework.info");
    std::fs::write(&path, b"\xff\xff\xff garbage").unwrap();
    path
}

#[test]
fn a_whole_agent_round_trips() {
    let (_dir, checkpoint) = whole_agent();

    let recovered = checkpoint.recover(true).unwrap().expect("an agent");
    assert_eq!(recovered.info, agent_info("a1"));
    assert!(!recovered.rebooted, "the boot id is this boot's");
    assert!(recovered.errors.is_empty(), "{:?}", recovered.errors);
    assert_eq!(recovered.frameworks.len(), 2);

    let f1 = &recovered.frameworks[0];
    assert_eq!(f1.info, framework_info("f1"));
    assert_eq!(f1.executors.len(), 2);
    let (old, live) = (&f1.executors[0], &f1.executors[1]);
    assert_eq!(old.run, run("f1", "e1", "c0"));
    assert_eq!(old.info, executor_info("e1"));
    assert_eq!(old.pid, Some(4000));
    assert_eq!(
        old.start_time, None,
        "a checkpoint without a start time has none"
    );
    assert!(old.completed);
    assert_eq!(old.tasks.len(), 1);
    assert_eq!(
        old.tasks[0].records,
        vec![update("t0", TaskState::TaskFinished, 1)]
    );

    assert_eq!(live.run, run("f1", "e1", "c1"));
    assert_eq!(live.pid, Some(4242));
    assert_eq!(live.start_time, Some(98_765));
    assert!(!live.completed);
    let tasks: Vec<_> = live.tasks.iter().map(|t| t.info.clone()).collect();
    assert_eq!(tasks, vec![task_info("t1"), task_info("t2")]);
    assert_eq!(
        live.tasks[0].records,
        vec![
            update("t1", TaskState::TaskRunning, 2),
            ack(2),
            update("t1", TaskState::TaskFinished, 3),
        ]
    );
    // Only the unacknowledged FINISHED remains to deliver.
    let pending = live.tasks[0].pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.state, TaskState::TaskFinished as i32);
    assert_eq!(live.tasks[0].latest_state(), Some(TaskState::TaskFinished));
    assert!(live.tasks[1].records.is_empty(), "t2 has no updates yet");
    assert_eq!(live.tasks[1].latest_state(), None);

    let f2 = &recovered.frameworks[1];
    assert_eq!(f2.info, framework_info("f2"));
    assert_eq!(f2.executors.len(), 1);
    assert_eq!(f2.executors[0].pid, None, "a missing pid file is no pid");
    assert_eq!(f2.executors[0].tasks[0].info, task_info("t3"));

    // No temporary file outlives its write.
    let leftovers: Vec<_> = tree(checkpoint.dir())
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn nothing_checkpointed_is_nothing_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    assert_eq!(checkpoint.recover(true).unwrap(), None);
    // A framework written before any agent link is not an agent either.
    checkpoint
        .write_framework("a1", &framework_info("f1"))
        .unwrap();
    assert_eq!(checkpoint.recover(true).unwrap(), None);
}

#[test]
fn the_latest_link_follows_the_newest_agent() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    checkpoint.write_agent(&agent_info("a1")).unwrap();
    checkpoint.write_agent(&agent_info("a2")).unwrap();
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    assert_eq!(recovered.info, agent_info("a2"));
}

#[test]
fn a_different_boot_id_is_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    checkpoint.write_agent(&agent_info("a1")).unwrap();
    std::fs::write(
        checkpoint.dir().join("boot_id"),
        "00000000-0000-0000-0000-000000000000\n",
    )
    .unwrap();
    assert!(checkpoint.recover(true).unwrap().unwrap().rebooted);
}

#[test]
fn updates_cut_in_the_middle_of_a_record_keep_the_whole_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    checkpoint.write_agent(&agent_info("a1")).unwrap();
    checkpoint
        .write_framework("a1", &framework_info("f1"))
        .unwrap();
    checkpoint
        .write_executor("a1", "f1", &executor_info("e1"))
        .unwrap();
    let r = run("f1", "e1", "c1");
    checkpoint.write_task(&r, &task_info("t1")).unwrap();
    let whole = [update("t1", TaskState::TaskRunning, 1), ack(1)];
    checkpoint.write_updates(&r, "t1", &whole).unwrap();

    // A crash in the middle of a third record: half its bytes made it.
    let path = checkpoint.task_dir(&r, "t1").unwrap().join("task.updates");
    let good_len = std::fs::metadata(&path).unwrap().len();
    let third = records::encode(&[update("t1", TaskState::TaskFailed, 2)]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&third[..third.len() / 2]);
    std::fs::write(&path, &bytes).unwrap();

    // Strict or not: a cut-short tail is what a crash leaves, not damage.
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    let task = &recovered.frameworks[0].executors[0].tasks[0];
    assert_eq!(task.records, whole.to_vec());
    assert!(recovered.errors.is_empty(), "{:?}", recovered.errors);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good_len,
        "the file is truncated to its whole records"
    );
}

#[test]
fn decode_tells_a_partial_tail_from_a_damaged_record() {
    let whole = records::encode(&[ack(1), ack(2)]);
    let decoded = records::decode(&whole);
    assert_eq!(decoded.records, vec![ack(1), ack(2)]);
    assert_eq!(decoded.tail, None);

    // Only the length byte of a record.
    let mut cut = records::encode(&[ack(1)]);
    let at = cut.len();
    cut.push(0x7f);
    let decoded = records::decode(&cut);
    assert_eq!(decoded.records, vec![ack(1)]);
    assert_eq!(decoded.valid_len, Some(at));
    assert_eq!(decoded.tail, Some(Tail::Partial));

    // A whole record of the right length that is not an UpdateRecord.
    let mut damaged = records::encode(&[ack(1)]);
    damaged.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
    let decoded = records::decode(&damaged);
    assert_eq!(decoded.records, vec![ack(1)]);
    assert!(
        matches!(decoded.tail, Some(Tail::Corrupt(_))),
        "{decoded:?}"
    );

    // A record that decodes but says nothing: no type.
    let mut untyped = Vec::new();
    ratufa_proto::ratufa::checkpoint::UpdateRecord::default()
        .encode_length_delimited(&mut untyped)
        .unwrap();
    assert!(matches!(
        records::decode(&untyped).tail,
        Some(Tail::Corrupt(_))
    ));
}

#[test]
fn a_damaged_record_fails_a_strict_recovery_and_ends_the_stream_otherwise() {
    let (_dir, checkpoint) = whole_agent();
    let r = run("f1", "e1", "c1");
    let path = checkpoint.task_dir(&r, "t1").unwrap().join("task.updates");
    let mut bytes = records::encode(&[update("t1", TaskState::TaskRunning, 2)]);
    bytes.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
    std::fs::write(&path, &bytes).unwrap();

    let error = checkpoint.recover(true).unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");

    let recovered = checkpoint.recover(false).unwrap().unwrap();
    let task = &recovered.frameworks[0].executors[1].tasks[0];
    assert_eq!(task.records, vec![update("t1", TaskState::TaskRunning, 2)]);
    assert_eq!(recovered.errors.len(), 1, "{:?}", recovered.errors);
    assert!(recovered.errors[0].contains("task.updates"));
}

#[test]
fn a_garbage_framework_info_fails_a_strict_recovery_naming_the_file() {
    let (_dir, checkpoint) = whole_agent();
    let path = spoil_framework_info(&checkpoint);

    let error = checkpoint.recover(true).unwrap_err();
    assert!(
        matches!(&error, AgentError::Checkpoint { path: at, .. } if *at == path),
        "{error:?}"
    );
    assert!(error.to_string().contains("framework.info"), "{error}");
}

#[test]
fn a_garbage_framework_info_is_skipped_and_listed_when_not_strict() {
    let (_dir, checkpoint) = whole_agent();
    let path = spoil_framework_info(&checkpoint);

    let recovered = checkpoint.recover(false).unwrap().unwrap();
    let frameworks: Vec<_> = recovered.frameworks.iter().map(|f| &f.info).collect();
    assert_eq!(frameworks, vec![&framework_info("f2")], "f1 is skipped");
    assert_eq!(recovered.errors.len(), 1, "{:?}", recovered.errors);
    assert!(
        recovered.errors[0].contains(&path.display().to_string()),
        "{:?}",
        recovered.errors
    );
}

#[test]
fn a_missing_task_info_skips_the_task_in_either_mode() {
    let (_dir, checkpoint) = whole_agent();
    let r = run("f1", "e1", "c1");
    std::fs::remove_file(checkpoint.task_dir(&r, "t2").unwrap().join("task.info")).unwrap();
    for strict in [true, false] {
        let recovered = checkpoint.recover(strict).unwrap().unwrap();
        let tasks: Vec<_> = recovered.frameworks[0].executors[1]
            .tasks
            .iter()
            .map(|t| t.info.task_id.value.clone())
            .collect();
        assert_eq!(tasks, vec!["t1".to_string()]);
        assert_eq!(recovered.errors.len(), 1, "{:?}", recovered.errors);
    }
}

#[test]
fn a_garbage_pid_file_is_damage() {
    let (_dir, checkpoint) = whole_agent();
    let path = checkpoint
        .run_dir(&run("f1", "e1", "c1"))
        .unwrap()
        .join("pids")
        .join("forked.pid");
    std::fs::write(&path, "not a pid").unwrap();
    assert!(checkpoint.recover(true).is_err());
    let recovered = checkpoint.recover(false).unwrap().unwrap();
    assert_eq!(recovered.frameworks[0].executors[1].pid, None);
    assert_eq!(recovered.errors.len(), 1);
}

#[test]
fn a_garbage_start_time_is_damage() {
    let (_dir, checkpoint) = whole_agent();
    let path = checkpoint
        .run_dir(&run("f1", "e1", "c1"))
        .unwrap()
        .join("pids")
        .join("forked.start_time");
    std::fs::write(&path, "-3").unwrap();
    assert!(checkpoint.recover(true).is_err());
    let recovered = checkpoint.recover(false).unwrap().unwrap();
    let live = &recovered.frameworks[0].executors[1];
    assert_eq!((live.pid, live.start_time), (Some(4242), None));
    assert_eq!(recovered.errors.len(), 1);
}

#[test]
fn remove_run_cleans_the_parents_it_leaves_empty() {
    let (_dir, checkpoint) = whole_agent();
    let f1 = checkpoint.framework_dir("a1", "f1").unwrap();
    let e1 = checkpoint.executor_dir("a1", "f1", "e1").unwrap();

    // e1 still has run c1: the executor and the framework stay.
    checkpoint.remove_run(&run("f1", "e1", "c0")).unwrap();
    assert!(!e1.join("runs").join("c0").exists());
    assert!(e1.join("runs").join("c1").exists());
    assert!(e1.join("executor.info").exists());

    // The last run of the last executor: the framework goes with it.
    checkpoint.remove_run(&run("f1", "e1", "c1")).unwrap();
    assert!(!e1.exists());
    assert!(!f1.exists());
    // The other framework is untouched.
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    assert_eq!(recovered.frameworks.len(), 1);
    assert_eq!(recovered.frameworks[0].info, framework_info("f2"));

    // Removing what is gone already is not an error.
    checkpoint.remove_run(&run("f1", "e1", "c1")).unwrap();
}

#[test]
fn remove_framework_and_clear_forget() {
    let (_dir, checkpoint) = whole_agent();
    checkpoint.remove_framework("a1", "f2").unwrap();
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    assert_eq!(recovered.frameworks.len(), 1);

    checkpoint.clear().unwrap();
    assert!(!checkpoint.dir().exists());
    assert_eq!(checkpoint.recover(true).unwrap(), None);
    checkpoint.clear().unwrap();
}

#[test]
fn ids_that_would_leave_their_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = Checkpoint::new(dir.path());
    for bad in ["", "..", "../x", "a/b", ".hidden"] {
        assert!(
            checkpoint
                .write_framework("a1", &framework_info(bad))
                .is_err(),
            "{bad:?}"
        );
    }
    assert!(checkpoint.write_agent(&agent_info("latest")).is_err());
    assert!(checkpoint.write_agent(&AgentInfo::default()).is_err());
    assert_eq!(tree(dir.path()), Vec::<String>::new());
}

#[test]
fn pending_drops_what_was_acknowledged() {
    let records = vec![
        update("t1", TaskState::TaskStarting, 1),
        update("t1", TaskState::TaskRunning, 2),
        ack(1),
        update("t1", TaskState::TaskFinished, 3),
        ack(2),
    ];
    let pending = pending(&records);
    let states: Vec<i32> = pending.iter().map(|(_, s)| s.state).collect();
    assert_eq!(states, vec![TaskState::TaskFinished as i32]);
}

#[test]
fn append_updates_extends_the_stream() {
    let (_dir, checkpoint) = whole_agent();
    let r = run("f1", "e1", "c1");
    // t2 has no task.updates yet.
    checkpoint
        .append_updates(&r, "t2", &[update("t2", TaskState::TaskRunning, 7)])
        .unwrap();
    checkpoint.append_updates(&r, "t2", &[ack(7)]).unwrap();
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    assert_eq!(
        recovered.frameworks[0].executors[1].tasks[1].records,
        vec![update("t2", TaskState::TaskRunning, 7), ack(7)]
    );
}

/// The environment variable that turns the test binary, run again, into
/// [`crash_writer`].
const CRASH_WRITER: &str = "RATUFA_CHECKPOINT_CRASH_WRITER";

/// Not a test on its own: with [`CRASH_WRITER`] naming a work dir, appends records to
/// a task's stream (one more each time) until it is killed.
#[test]
#[ignore = "a helper process of a_writer_killed_at_any_moment_leaves_a_recoverable_checkpoint"]
fn crash_writer() {
    let Ok(work_dir) = std::env::var(CRASH_WRITER) else {
        return;
    };
    let checkpoint = Checkpoint::new(std::path::Path::new(&work_dir));
    let r = run("f1", "e1", "c1");
    for n in 0u32.. {
        let uuid = (n % 251) as u8;
        checkpoint
            .append_updates(&r, "t1", &[update("t1", TaskState::TaskRunning, uuid)])
            .unwrap();
        checkpoint
            .write_pid(&r, i32::try_from(n).unwrap() + 1, Some(u64::from(n)))
            .unwrap();
    }
}

#[test]
fn a_writer_killed_at_any_moment_leaves_a_recoverable_checkpoint() {
    let (dir, checkpoint) = whole_agent();
    let r = run("f1", "e1", "c1");
    checkpoint.write_updates(&r, "t1", &[]).unwrap();

    // This test binary again, running only crash_writer, in another process.
    let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "checkpoint::tests::crash_writer",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CRASH_WRITER, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let updates = checkpoint.task_dir(&r, "t1").unwrap().join("task.updates");
    // Until a few dozen records are down: the kill lands in the middle of the writing.
    while std::fs::metadata(&updates).map_or(0, |m| m.len()) < 2_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never wrote"
        );
        if let Some(status) = writer.try_wait().unwrap() {
            panic!("the writer ended: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    writer.kill().unwrap();
    writer.wait().unwrap();

    // Strict: nothing is damaged, whatever moment the kill hit.
    let recovered = checkpoint.recover(true).unwrap().unwrap();
    assert!(recovered.errors.is_empty(), "{:?}", recovered.errors);
    let live = &recovered.frameworks[0].executors[1];
    let records = &live.tasks[0].records;
    assert!(records.len() >= 2, "{}", records.len());
    for (n, record) in records.iter().enumerate() {
        assert_eq!(
            *record,
            update("t1", TaskState::TaskRunning, (n % 251) as u8),
            "record {n}"
        );
    }
    // The pid is written after each append: it is the count, or one behind it.
    let pid = usize::try_from(live.pid.unwrap()).unwrap();
    assert!(
        pid == records.len() || pid + 1 == records.len(),
        "pid {pid}, {} records",
        records.len()
    );
}
