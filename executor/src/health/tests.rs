#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Empty;
use ratufa_proto::v1::CommandInfo;

use super::*;

fn tcp_check(port: u32) -> HealthCheck {
    HealthCheck {
        r#type: Some(health_check::Type::Tcp as i32),
        tcp: Some(health_check::TcpCheckInfo {
            port,
            ..Default::default()
        }),
        ..HealthCheck::default()
    }
}

fn command_check(value: &str) -> HealthCheck {
    HealthCheck {
        r#type: Some(health_check::Type::Command as i32),
        command: Some(CommandInfo {
            value: Some(value.into()),
            ..CommandInfo::default()
        }),
        ..HealthCheck::default()
    }
}

fn config(check: &HealthCheck) -> HealthConfig {
    HealthConfig::from_proto(check, &PathBuf::from("/tmp")).unwrap()
}

#[test]
fn mesos_defaults_fill_what_is_left_out() {
    let config = config(&tcp_check(8080));
    assert_eq!(config.timing.delay, Duration::from_secs(15));
    assert_eq!(config.timing.interval, Duration::from_secs(10));
    assert_eq!(config.timing.timeout, Some(Duration::from_secs(20)));
    assert_eq!(config.consecutive_failures, 3);
    assert_eq!(config.grace_period, Duration::from_secs(10));
    assert_eq!(
        config.probe,
        Probe::Tcp {
            addr: "127.0.0.1:8080".parse().unwrap()
        }
    );
}

#[test]
fn given_values_and_http_urls() {
    let check = HealthCheck {
        r#type: Some(health_check::Type::Http as i32),
        http: Some(health_check::HttpCheckInfo {
            port: 9000,
            path: Some("health".into()),
            ..Default::default()
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(1.5),
        timeout_seconds: Some(0.0),
        consecutive_failures: Some(1),
        grace_period_seconds: Some(0.0),
        ..HealthCheck::default()
    };
    let config = config(&check);
    assert_eq!(config.timing.delay, Duration::ZERO);
    assert_eq!(config.timing.interval, Duration::from_millis(1500));
    assert_eq!(config.timing.timeout, None, "0 means no timeout");
    assert_eq!(config.consecutive_failures, 1);
    assert_eq!(
        config.probe,
        Probe::Http {
            uri: "http://127.0.0.1:9000/health".parse().unwrap()
        }
    );
}

#[test]
fn a_check_without_a_type_is_the_kind_it_has() {
    let mut legacy_http = HealthCheck {
        http: Some(health_check::HttpCheckInfo {
            port: 9000,
            ..Default::default()
        }),
        ..HealthCheck::default()
    };
    assert!(matches!(config(&legacy_http).probe, Probe::Http { .. }));
    let mut legacy_command = command_check("true");
    legacy_command.r#type = None;
    assert!(matches!(config(&legacy_command).probe, Probe::Command(_)));
    // Both, with no type to choose: refused.
    legacy_http.command = legacy_command.command;
    let error = HealthConfig::from_proto(&legacy_http, &PathBuf::from("/tmp")).unwrap_err();
    assert!(error.contains("health_check.type"), "{error}");
}

#[test]
fn bad_checks_name_the_field() {
    let cases = [
        (tcp_check(0), "health_check.tcp.port"),
        (tcp_check(70_000), "health_check.tcp.port"),
        (
            HealthCheck {
                r#type: Some(health_check::Type::Http as i32),
                ..HealthCheck::default()
            },
            "health_check.http",
        ),
        (
            HealthCheck {
                r#type: Some(health_check::Type::Command as i32),
                ..HealthCheck::default()
            },
            "health_check.command",
        ),
        (HealthCheck::default(), "health_check.type"),
        (
            HealthCheck {
                r#type: Some(health_check::Type::Http as i32),
                http: Some(health_check::HttpCheckInfo {
                    port: 80,
                    scheme: Some("ftp".into()),
                    ..Default::default()
                }),
                ..HealthCheck::default()
            },
            "health_check.http.scheme",
        ),
        (
            HealthCheck {
                interval_seconds: Some(-1.0),
                ..tcp_check(80)
            },
            "health_check.interval_seconds",
        ),
    ];
    for (check, field) in cases {
        let error = HealthConfig::from_proto(&check, &PathBuf::from("/tmp")).unwrap_err();
        assert!(error.contains(field), "{error} should name {field}");
    }
}

#[test]
fn verdicts_follow_mesos_rules() {
    let mut config = config(&tcp_check(1));
    config.grace_period = Duration::from_secs(10);
    config.consecutive_failures = 2;
    let mut v = Verdicts::new(&config);
    // Inside the grace period, before any success: ignored.
    assert_eq!(v.failure(Duration::from_secs(5)), None);
    // The first success is news; the next is not.
    let healthy = Some(Verdict {
        healthy: true,
        kill: false,
    });
    assert_eq!(v.success(), healthy);
    assert_eq!(v.success(), None);
    // After a success the grace period no longer applies; every failure is reported
    // and the second in a row asks for the kill.
    assert_eq!(
        v.failure(Duration::from_secs(6)),
        Some(Verdict {
            healthy: false,
            kill: false
        })
    );
    assert_eq!(
        v.failure(Duration::from_secs(7)),
        Some(Verdict {
            healthy: false,
            kill: true
        })
    );
    // Recovery is news again.
    assert_eq!(v.success(), healthy);
}

#[test]
fn failures_after_the_grace_period_count_without_a_success() {
    let mut config = config(&tcp_check(1));
    config.grace_period = Duration::from_secs(1);
    config.consecutive_failures = 1;
    let mut v = Verdicts::new(&config);
    assert_eq!(
        v.failure(Duration::from_secs(2)),
        Some(Verdict {
            healthy: false,
            kill: true
        })
    );
}

async fn probe_once(check: HealthCheck) -> Result<(), String> {
    let config = config(&check);
    let client = ratufa_gateway::tcp::unverified_client::<Empty<Bytes>>();
    judge(Some(probe::once(&config.probe, &None, &client).await))
}

#[tokio::test]
async fn tcp_probes_connect() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(probe_once(tcp_check(u32::from(port))).await, Ok(()));
    drop(listener);
    assert!(probe_once(tcp_check(u32::from(port))).await.is_err());
}

#[tokio::test]
async fn http_probes_want_2xx_or_3xx() {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;
    let router = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/moved", get(|| async { StatusCode::FOUND }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = u32::from(listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = |path: &str| HealthCheck {
        r#type: Some(health_check::Type::Http as i32),
        http: Some(health_check::HttpCheckInfo {
            port,
            path: Some(path.into()),
            ..Default::default()
        }),
        ..HealthCheck::default()
    };
    assert_eq!(probe_once(http("/ok")).await, Ok(()));
    assert_eq!(probe_once(http("/moved")).await, Ok(()));
    let error = probe_once(http("/broken")).await.unwrap_err();
    assert!(error.contains("500"), "{error}");
    assert!(
        probe_once(http("/missing"))
            .await
            .unwrap_err()
            .contains("404")
    );
}

#[tokio::test]
async fn command_probes_want_exit_zero() {
    assert_eq!(probe_once(command_check("true")).await, Ok(()));
    let error = probe_once(command_check("exit 4")).await.unwrap_err();
    assert!(error.contains('4'), "{error}");
}

#[tokio::test]
async fn a_checker_reports_and_asks_for_the_kill() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut check = command_check("test -e healthy");
    check.delay_seconds = Some(0.0);
    check.interval_seconds = Some(0.05);
    check.grace_period_seconds = Some(0.0);
    check.consecutive_failures = Some(2);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("healthy");
    std::fs::write(&marker, "").unwrap();
    let config = HealthConfig::from_proto(&check, dir.path()).unwrap();
    let checker = tokio::spawn(run("t".into(), config, None, tx));
    assert_eq!(next_verdict(&mut rx).await, (true, false));
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(next_verdict(&mut rx).await, (false, false));
    assert_eq!(next_verdict(&mut rx).await, (false, true));
    checker.abort();
}

async fn next_verdict(rx: &mut mpsc::UnboundedReceiver<TaskEvent>) -> (bool, bool) {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(TaskEvent::Health { healthy, kill, .. })) => (healthy, kill),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn https_probes_take_the_tasks_certificate_unverified() {
    let dir = tempfile::tempdir().unwrap();
    // A certificate from a CA nobody here trusts, as a task's own would be.
    let pki = ratufa_gateway::tls::testing::TestPki::create(dir.path());
    let tls = ratufa_gateway::Tls::load(pki.settings()).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = u32::from(tcp.local_addr().unwrap().port());
    let listener = ratufa_gateway::tls::listener(tcp, Some(&tls)).unwrap();
    let router = axum::Router::new().route("/ok", axum::routing::get(|| async { "fine" }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let check = |scheme: &str| HealthCheck {
        r#type: Some(health_check::Type::Http as i32),
        http: Some(health_check::HttpCheckInfo {
            port,
            path: Some("/ok".into()),
            scheme: Some(scheme.into()),
            ..Default::default()
        }),
        ..HealthCheck::default()
    };
    assert_eq!(probe_once(check("https")).await, Ok(()));
    // The same port in plain HTTP gets no answer.
    assert!(probe_once(check("http")).await.is_err());
}
