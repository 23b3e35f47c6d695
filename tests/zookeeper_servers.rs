//! The ZooKeeper the HA tests run on: real servers from Debian's jar, started by
//! tests/support/zookeeper.rs, standalone and as a three-node ensemble.

#![allow(clippy::unwrap_used)]

mod support;
#[path = "support/zookeeper.rs"]
mod zookeeper;

use zookeeper::ZooKeeper;

#[test]
fn a_standalone_server_serves_and_is_gone_after_drop() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    assert_eq!(zk.ask(0, "ruok").as_deref(), Some("imok"));
    let srvr = zk.ask(0, "srvr").unwrap();
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    let addr = zk.addr(0);
    drop(zk);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[test]
fn a_three_node_ensemble_elects_one_leader_and_survives_losing_one() {
    if !zookeeper::require() {
        return;
    }
    let mut zk = ZooKeeper::ensemble(3);
    let modes = |zk: &ZooKeeper, servers: &[usize]| -> Vec<String> {
        servers
            .iter()
            .map(|i| {
                let srvr = zk.ask(*i, "srvr").unwrap_or_default();
                srvr.lines()
                    .find_map(|l| l.strip_prefix("Mode: "))
                    .unwrap_or("none")
                    .to_string()
            })
            .collect()
    };
    let all = modes(&zk, &[0, 1, 2]);
    assert_eq!(all.iter().filter(|m| *m == "leader").count(), 1, "{all:?}");
    assert_eq!(
        all.iter().filter(|m| *m == "follower").count(),
        2,
        "{all:?}"
    );
    assert_eq!(zk.connect_string().split(',').count(), 3);

    // Two of three still make a quorum.
    let leader = all.iter().position(|m| m == "leader").unwrap();
    zk.stop_server(leader);
    zk.wait_serving();
    // The survivors may still answer as followers of the stopped leader, or be in
    // the election that follows ("none"): the new leader is awaited, not assumed.
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let after = modes(&zk, &rest);
        let leaders = after.iter().filter(|m| *m == "leader").count();
        let followers = after.iter().filter(|m| *m == "follower").count();
        if (leaders, followers) == (1, 1) {
            break;
        }
        assert!(
            leaders <= 1 && std::time::Instant::now() < deadline,
            "{after:?}\n{}",
            zk.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
