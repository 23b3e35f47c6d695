#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use ratufa_proto::v1::{CommandInfo, check_info};

use super::*;

fn tcp_check(port: u32) -> CheckInfo {
    CheckInfo {
        r#type: Some(CheckType::Tcp as i32),
        tcp: Some(check_info::Tcp { port }),
        ..CheckInfo::default()
    }
}

fn command_check(value: &str) -> CheckInfo {
    CheckInfo {
        r#type: Some(CheckType::Command as i32),
        command: Some(check_info::Command {
            command: CommandInfo {
                value: Some(value.into()),
                ..CommandInfo::default()
            },
        }),
        ..CheckInfo::default()
    }
}

#[test]
fn mesos_defaults_and_http_urls() {
    let config = CheckConfig::from_proto(&tcp_check(8080), &PathBuf::from("/tmp")).unwrap();
    assert_eq!(config.timing.delay, Duration::from_secs(15));
    assert_eq!(config.timing.interval, Duration::from_secs(10));
    assert_eq!(config.timing.timeout, Some(Duration::from_secs(20)));
    assert_eq!(
        config.probe,
        Probe::Tcp {
            addr: "127.0.0.1:8080".parse().unwrap()
        }
    );
    let http = CheckInfo {
        r#type: Some(CheckType::Http as i32),
        http: Some(check_info::Http {
            port: 9000,
            path: Some("/ready".into()),
        }),
        ..CheckInfo::default()
    };
    let config = CheckConfig::from_proto(&http, &PathBuf::from("/tmp")).unwrap();
    assert_eq!(
        config.probe,
        Probe::Http {
            uri: "http://127.0.0.1:9000/ready".parse().unwrap()
        }
    );
}

#[test]
fn bad_checks_name_the_field() {
    let cases = [
        (tcp_check(0), "check.tcp.port"),
        (tcp_check(70_000), "check.tcp.port"),
        (CheckInfo::default(), "check.type"),
        (
            CheckInfo {
                r#type: Some(CheckType::Command as i32),
                ..CheckInfo::default()
            },
            "check.command",
        ),
        (
            CheckInfo {
                r#type: Some(CheckType::Http as i32),
                ..CheckInfo::default()
            },
            "check.http",
        ),
        (
            CheckInfo {
                timeout_seconds: Some(-2.0),
                ..tcp_check(80)
            },
            "check.timeout_seconds",
        ),
    ];
    for (check, field) in cases {
        let error = CheckConfig::from_proto(&check, &PathBuf::from("/tmp")).unwrap_err();
        assert!(error.contains(field), "{error} should name {field}");
    }
}

#[test]
fn results_are_reported_as_they_are() {
    let command = status_of(CheckType::Command, &Some(Ok(Reading::Exited(3))));
    assert_eq!(command.r#type, Some(CheckType::Command as i32));
    assert_eq!(command.command.unwrap().exit_code, Some(3));
    let http = status_of(CheckType::Http, &Some(Ok(Reading::Answered(503))));
    assert_eq!(http.http.unwrap().status_code, Some(503));
    let refused = status_of(CheckType::Tcp, &Some(Err("refused".into())));
    assert_eq!(refused.tcp.unwrap().succeeded, Some(false));
    let connected = status_of(CheckType::Tcp, &Some(Ok(Reading::Connected)));
    assert_eq!(connected.tcp.unwrap().succeeded, Some(true));
    // No result (a timeout, a failed request): the empty status of the type.
    for kind in [CheckType::Command, CheckType::Http, CheckType::Tcp] {
        assert_eq!(
            Some(status_of(kind, &None)),
            empty_status(kind as i32),
            "{kind:?}"
        );
    }
    assert_eq!(
        status_of(CheckType::Http, &Some(Err("no answer".into()))),
        empty_status(CheckType::Http as i32).unwrap()
    );
    let empty = empty_status(CheckType::Command as i32).unwrap();
    assert_eq!(empty.command, Some(Command::default()));
    assert_eq!(empty_status(CheckType::Unknown as i32), None);
}

async fn next_status(rx: &mut mpsc::UnboundedReceiver<TaskEvent>) -> CheckStatusInfo {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(TaskEvent::Check { status, .. })) => status,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_checker_reports_each_change_once_and_kills_nothing() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut check = command_check("test -e flag");
    check.delay_seconds = Some(0.0);
    check.interval_seconds = Some(0.05);
    let dir = tempfile::tempdir().unwrap();
    let config = CheckConfig::from_proto(&check, dir.path()).unwrap();
    let checker = tokio::spawn(run("t".into(), config, None, tx));
    let first = next_status(&mut rx).await;
    assert_eq!(first.command.unwrap().exit_code, Some(1));
    // Many more checks run meanwhile; none is reported until the result changes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "an unchanged result is not news");
    std::fs::write(dir.path().join("flag"), "").unwrap();
    let second = next_status(&mut rx).await;
    assert_eq!(second.command.unwrap().exit_code, Some(0));
    checker.abort();
}

#[tokio::test]
async fn tcp_checks_say_whether_they_connected() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut check = tcp_check(u32::from(port));
    check.delay_seconds = Some(0.0);
    check.interval_seconds = Some(0.05);
    let config = CheckConfig::from_proto(&check, &PathBuf::from("/tmp")).unwrap();
    let checker = tokio::spawn(run("t".into(), config, None, tx));
    assert_eq!(
        next_status(&mut rx).await.tcp.unwrap().succeeded,
        Some(true)
    );
    drop(listener);
    assert_eq!(
        next_status(&mut rx).await.tcp.unwrap().succeeded,
        Some(false)
    );
    checker.abort();
}
