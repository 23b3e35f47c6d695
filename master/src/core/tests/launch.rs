//! ACCEPT with LAUNCH and LAUNCH_GROUP: validation in Mesos's order and words, what
//! reaches the agent, what is declined.

use ratufa_proto::v1::offer::{Operation, operation};
use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{
    CheckInfo, ContainerInfo, ExecutorId, ExecutorInfo, HealthCheck, Image, LinuxInfo,
    TaskGroupInfo, Volume, check_info, container_info, executor_info, health_check,
};

use super::*;

fn single_update(outputs: &[Output], sub: &Subscription) -> TaskStatus {
    let updates = updates_on(outputs, sub.conn);
    assert_eq!(updates.len(), 1, "{outputs:?}");
    updates[0].clone()
}

#[test]
fn valid_launch_reaches_the_agent_and_rest_is_declined() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024");
    let outputs = h.launched(&sub, &offer, "t1", "cpus:1;mem:128");
    let commands = commands_on(&outputs, agent.conn);
    assert_eq!(commands.len(), 1);
    assert_eq!(command_type(&commands[0]), Some(command::Type::RunTask));
    let run = commands[0].run_task.as_ref().unwrap();
    assert_eq!(run.task.task_id.value, "t1");
    assert_eq!(run.framework.id, Some(sub.framework_id()));
    assert!(updates_on(&outputs, sub.conn).is_empty());

    let entry = h.core.task(&sub.framework_id().value, "t1").unwrap();
    assert_eq!(entry.state(), TaskState::TaskStaging);
    let used = h.core.agent(&agent.id.value).unwrap().used().unallocated();
    assert_eq!((used.cpus(), used.mem()), (1.0, 128.0));
    // The unused 3 cpus and 896 mem came back with the default 5 s filter.
    let state = h.allocator.state.lock().unwrap();
    let (_, _, back, refuse) = state.recovered.last().unwrap();
    assert_eq!(
        (back.unallocated().cpus(), back.unallocated().mem()),
        (3.0, 896.0)
    );
    assert_eq!(*refuse, Some(Duration::from_secs(5)));
    assert!(h.core.offer(&offer.id.value).is_none());
}

#[test]
fn invalid_offer_loses_tasks() {
    for aware in [false, true] {
        let mut h = Harness::new();
        let base = if aware {
            partition_aware(info("f"))
        } else {
            info("f")
        };
        let (sub, _, offer) = h.offered(base, "cpus:1;mem:64");
        let mut bogus = offer.clone();
        bogus.id.value = "nope".into();
        let t = command_task("t", &offer.agent_id, "cpus:1");
        h.call_on(&sub, accept(&[&bogus], vec![launch(vec![t])]))
            .unwrap();
        let status = single_update(&h.outputs(), &sub);
        let expected = if aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&status), expected);
        assert_eq!(reason_of(&status), Some(Reason::InvalidOffers));
        assert!(status.uuid.is_none());
        assert!(
            status.message().contains("Offer nope is no longer valid"),
            "{:?}",
            status.message
        );
        assert!(h.core.task(&sub.framework_id().value, "t").is_none());
    }
}

#[test]
fn an_offer_is_used_once() {
    let mut h = Harness::new();
    let (sub, _, offer) = h.offered(info("f"), "cpus:2;mem:128");
    h.launched(&sub, &offer, "a", "cpus:1;mem:64");
    let t = command_task("b", &offer.agent_id, "cpus:1;mem:64");
    h.call_on(&sub, accept(&[&offer], vec![launch(vec![t])]))
        .unwrap();
    let status = single_update(&h.outputs(), &sub);
    assert_eq!(state_of(&status), TaskState::TaskLost);
    assert_eq!(reason_of(&status), Some(Reason::InvalidOffers));
    h.check();
}

#[test]
fn offers_of_two_agents_cannot_be_combined() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    h.agent("a", "cpus:1;mem:64");
    h.agent("b", "cpus:1;mem:64");
    let offers = offers_on(&h.allocate(), sub.conn);
    assert_eq!(offers.len(), 2);
    let t = command_task("t", &offers[0].agent_id, "cpus:2");
    h.call_on(
        &sub,
        accept(&[&offers[0], &offers[1]], vec![launch(vec![t])]),
    )
    .unwrap();
    let status = single_update(&h.outputs(), &sub);
    assert!(
        status.message().contains("must belong to one single agent"),
        "{:?}",
        status.message
    );
    // Both offers were given back.
    assert_eq!(h.core.offers().count(), 0);
    h.check();
}

/// LAUNCHes the tasks of `cases` in one ACCEPT: those with `Some(fault)` must get, in
/// order, TASK_ERROR (REASON_TASK_INVALID) with a message containing it. Returns the
/// outputs.
fn launch_cases(
    h: &mut Harness,
    sub: &Subscription,
    offer: &Offer,
    cases: Vec<(TaskInfo, Option<&str>)>,
) -> Vec<Output> {
    let errors: Vec<&str> = cases.iter().filter_map(|(_, e)| *e).collect();
    let tasks: Vec<TaskInfo> = cases.into_iter().map(|(t, _)| t).collect();
    h.call_on(sub, accept(&[offer], vec![launch(tasks)]))
        .unwrap();
    let outputs = h.outputs();
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), errors.len(), "{updates:?}");
    for (status, fault) in updates.iter().zip(errors) {
        assert_eq!(state_of(status), TaskState::TaskError);
        assert_eq!(reason_of(status), Some(Reason::TaskInvalid));
        assert!(
            status.message().contains(fault),
            "{fault}: {:?}",
            status.message
        );
    }
    outputs
}

#[test]
fn invalid_tasks_get_task_error_with_the_fault() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024");
    let mut both = command_task("both", &agent.id, "cpus:1");
    both.executor = Some(ExecutorInfo {
        executor_id: ExecutorId { value: "e".into() },
        command: Some(Default::default()),
        ..ExecutorInfo::default()
    });
    let mut neither = command_task("neither", &agent.id, "cpus:1");
    neither.command = None;
    let mut wrong_agent = command_task("wrong-agent", &agent.id, "cpus:1");
    wrong_agent.agent_id.value = "S9".into();
    let mut no_resources = command_task("no-resources", &agent.id, "cpus:1");
    no_resources.resources.clear();
    let cases = vec![
        (command_task("ok", &agent.id, "cpus:1"), None),
        (
            command_task("ok", &agent.id, "cpus:1"),
            Some("Task has duplicate ID: ok"),
        ),
        (
            command_task("", &agent.id, "cpus:1"),
            Some("'TaskInfo.task_id' is invalid"),
        ),
        (
            command_task("big", &agent.id, "cpus:8"),
            Some("more than available"),
        ),
        (both, Some("at least one (but not both)")),
        (neither, Some("at least one (but not both)")),
        (wrong_agent, Some("Task uses invalid agent S9")),
        (no_resources, Some("Task uses no resources")),
    ];
    let outputs = launch_cases(&mut h, &sub, &offer, cases);
    assert_eq!(commands_on(&outputs, agent.conn).len(), 1);
    assert_eq!(h.core.counters().tasks_error, 7);
    h.check();
}

/// Mesos's master checks a task's check, health check and ContainerInfo itself; what
/// an agent could not run (an image, a DOCKER container with its DockerInfo) passes.
#[test]
fn checks_health_checks_and_containers_are_validated() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:8;mem:1024");
    let task = |id: &str, set: &dyn Fn(&mut TaskInfo)| {
        let mut t = command_task(id, &agent.id, "cpus:0.5");
        set(&mut t);
        t
    };
    let docker = |t: &mut TaskInfo| {
        t.container = Some(ContainerInfo {
            r#type: container_info::Type::Docker as i32,
            ..ContainerInfo::default()
        })
    };
    let cases: Vec<(TaskInfo, Option<&str>)> = vec![
        (
            task("no-type", &|t| t.check = Some(CheckInfo::default())),
            Some("Task uses invalid check: CheckInfo must specify 'type'"),
        ),
        (
            task("no-command", &|t| {
                t.check = Some(CheckInfo {
                    r#type: Some(check_info::Type::Command as i32),
                    ..CheckInfo::default()
                })
            }),
            Some("Expecting 'command' to be set for COMMAND check"),
        ),
        (
            task("negative", &|t| {
                t.check = Some(CheckInfo {
                    r#type: Some(check_info::Type::Tcp as i32),
                    tcp: Some(check_info::Tcp { port: 80 }),
                    interval_seconds: Some(-1.0),
                    ..CheckInfo::default()
                })
            }),
            Some("Expecting 'interval_seconds' to be non-negative"),
        ),
        (
            task("tcp-check", &|t| {
                t.check = Some(CheckInfo {
                    r#type: Some(check_info::Type::Tcp as i32),
                    tcp: Some(check_info::Tcp { port: 80 }),
                    ..CheckInfo::default()
                })
            }),
            None,
        ),
        (
            task("scheme", &|t| {
                t.health_check = Some(HealthCheck {
                    http: Some(health_check::HttpCheckInfo {
                        port: 80,
                        scheme: Some("ftp".into()),
                        ..Default::default()
                    }),
                    ..HealthCheck::default()
                })
            }),
            Some("Task uses invalid health check: Unsupported HTTP health check scheme: 'ftp'"),
        ),
        (
            task("docker", &docker),
            Some("Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set"),
        ),
        (
            task("docker-image", &|t| {
                docker(t);
                if let Some(c) = t.container.as_mut() {
                    c.docker = Some(container_info::DockerInfo {
                        image: "alpine".into(),
                        ..Default::default()
                    });
                }
            }),
            None,
        ),
        (
            task("two-sources", &|t| {
                t.container = Some(ContainerInfo {
                    r#type: container_info::Type::Mesos as i32,
                    volumes: vec![Volume {
                        host_path: Some("/tmp".into()),
                        image: Some(Image::default()),
                        ..Volume::default()
                    }],
                    ..ContainerInfo::default()
                })
            }),
            Some("Invalid volume: Only one of them should be set"),
        ),
        (
            task("own-cgroups", &|t| {
                t.container = Some(ContainerInfo {
                    r#type: container_info::Type::Mesos as i32,
                    linux_info: Some(LinuxInfo {
                        share_cgroups: Some(false),
                        ..LinuxInfo::default()
                    }),
                    ..ContainerInfo::default()
                })
            }),
            Some("Only tasks in a task group may have 'share_cgroups' set to 'false'"),
        ),
    ];
    let outputs = launch_cases(&mut h, &sub, &offer, cases);
    assert_eq!(commands_on(&outputs, agent.conn).len(), 2);
    h.check();
}

#[test]
fn a_group_may_not_ask_for_docker() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024;disk:1024");
    let mut docker_executor = executor("ex", "cpus:0.1;mem:32;disk:10");
    docker_executor.container = Some(ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo::default()),
        ..ContainerInfo::default()
    });
    let op = launch_group(docker_executor, vec![group_task("g1", &agent.id)]);
    h.call_on(&sub, accept(&[&offer], vec![op])).unwrap();
    let status = single_update(&h.outputs(), &sub);
    assert_eq!(state_of(&status), TaskState::TaskError);
    assert!(
        status
            .message()
            .contains("'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"),
        "{:?}",
        status.message
    );
    h.check();
}

#[test]
fn reservation_operations_are_refused_before_anything_changes() {
    let mut h = Harness::new();
    let (sub, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
    let reserve = Operation {
        r#type: Some(operation::Type::Reserve as i32),
        reserve: Some(Default::default()),
        ..Operation::default()
    };
    let err = h
        .call_on(&sub, accept(&[&offer], vec![reserve]))
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotImplemented);
    assert!(err.message.contains("RESERVE"), "{}", err.message);
    assert!(h.core.offer(&offer.id.value).is_some());
    assert!(h.outputs().is_empty());
}

fn executor(id: &str, resources: &str) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Default as i32),
        executor_id: ExecutorId { value: id.into() },
        resources: Resources::parse(resources, "*").unwrap().into_vec(),
        ..ExecutorInfo::default()
    }
}

fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Operation {
    Operation {
        r#type: Some(operation::Type::LaunchGroup as i32),
        launch_group: Some(operation::LaunchGroup {
            executor,
            task_group: TaskGroupInfo { tasks },
        }),
        ..Operation::default()
    }
}

fn group_task(id: &str, agent: &AgentId) -> TaskInfo {
    let mut t = command_task(id, agent, "cpus:0.5;mem:32");
    t.command = None;
    t
}

#[test]
fn task_group_launches_with_its_executor() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024;disk:1024");
    let op = launch_group(
        executor("ex", "cpus:0.1;mem:32;disk:10"),
        vec![group_task("g1", &agent.id), group_task("g2", &agent.id)],
    );
    h.call_on(&sub, accept(&[&offer], vec![op])).unwrap();
    let outputs = h.outputs();
    h.check();
    assert!(updates_on(&outputs, sub.conn).is_empty(), "{outputs:?}");
    let commands = commands_on(&outputs, agent.conn);
    assert_eq!(
        command_type(&commands[0]),
        Some(command::Type::RunTaskGroup)
    );
    let run = commands[0].run_task_group.as_ref().unwrap();
    assert_eq!(run.task_group.tasks.len(), 2);
    assert_eq!(run.executor.framework_id, Some(sub.framework_id()));
    let a = h.core.agent(&agent.id.value).unwrap();
    assert!(a.has_executor(&sub.framework_id().value, "ex"));
    assert!((a.used().cpus() - 1.1).abs() < 1e-9);
}

#[test]
fn invalid_task_group_fails_every_task() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024;disk:1024");
    let op = launch_group(
        executor("ex", "cpus:0.1;mem:16;disk:10"),
        vec![group_task("g1", &agent.id), group_task("g2", &agent.id)],
    );
    h.call_on(&sub, accept(&[&offer], vec![op])).unwrap();
    let outputs = h.outputs();
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), 2);
    for status in &updates {
        assert_eq!(state_of(status), TaskState::TaskError);
        assert_eq!(reason_of(status), Some(Reason::TaskGroupInvalid));
        assert!(
            status.message().contains("less memory"),
            "{:?}",
            status.message
        );
    }
    assert!(commands_on(&outputs, agent.conn).is_empty());
    assert!(h.core.agent(&agent.id.value).unwrap().used().is_empty());
    h.check();
}

#[test]
fn executor_reuse_must_match() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:4;mem:1024");
    let custom = |name: &str| ExecutorInfo {
        executor_id: ExecutorId { value: "ex".into() },
        name: Some(name.into()),
        command: Some(CommandInfo {
            value: Some("exec".into()),
            ..CommandInfo::default()
        }),
        resources: Resources::parse("cpus:0.1;mem:32", "*").unwrap().into_vec(),
        ..ExecutorInfo::default()
    };
    let mut a = command_task("a", &agent.id, "cpus:1");
    a.command = None;
    a.executor = Some(custom("one"));
    let mut b = a.clone();
    b.task_id.value = "b".into();
    let mut c = a.clone();
    c.task_id.value = "c".into();
    c.executor = Some(custom("two"));
    h.call_on(&sub, accept(&[&offer], vec![launch(vec![a, b, c])]))
        .unwrap();
    let outputs = h.outputs();
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].task_id.value, "c");
    assert!(
        updates[0].message().contains("not compatible"),
        "{:?}",
        updates[0].message
    );
    assert_eq!(commands_on(&outputs, agent.conn).len(), 2);
    // The executor's resources are counted once.
    let used = h.core.agent(&agent.id.value).unwrap().used();
    assert!((used.cpus() - 2.1).abs() < 1e-9, "{used}");
    h.check();
}
