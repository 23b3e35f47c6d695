//! Real ZooKeeper servers for the HA tests, started here from Debian's server jar
//! (scripts/setup-zookeeper.sh installs it): each server gets its own zoo.cfg, free
//! ports and a temporary data dir, runs as `java -cp <jar> QuorumPeerMain <cfg>`, and is
//! killed on drop. No test depends on a ZooKeeper someone else started.
//!
//! The jar's manifest names the other jars it needs (netty, jute, slf4j, …) by their
//! /usr/share/java paths, so `-cp` of the one jar is the whole class path.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, fresh_dir};

/// The server jar of Debian's `zookeeper` package.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// How long a server (or an ensemble's quorum) may take to start serving: a JVM on a
/// shared, busy machine.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Whether the jar is installed; tests skip (or fail under RATUFA_REQUIRE_CLIENTS=1)
/// without it.
pub fn available() -> bool {
    Path::new(ZOOKEEPER_JAR).is_file()
}

/// Returns false (after saying why) when ZooKeeper is missing and the run allows
/// skipping; panics when RATUFA_REQUIRE_CLIENTS=1 demands it.
pub fn require() -> bool {
    if available() {
        return true;
    }
    let why = format!("{ZOOKEEPER_JAR} is missing: run scripts/setup-zookeeper.sh");
    if std::env::var("RATUFA_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    false
}

/// One server of a [`ZooKeeper`]: its ports, files and (while running) its process.
struct Server {
    id: usize,
    client_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A standalone ZooKeeper server or an ensemble, with its servers' processes.
pub struct ZooKeeper {
    servers: Vec<Server>,
}

impl ZooKeeper {
    /// A standalone server, started and serving.
    pub fn standalone() -> ZooKeeper {
        let mut zk = ZooKeeper::configure(1);
        zk.start();
        zk
    }

    /// An ensemble of `n` servers, started and with a quorum serving.
    pub fn ensemble(n: usize) -> ZooKeeper {
        let mut zk = ZooKeeper::configure(n);
        zk.start();
        zk
    }

    /// `n` servers configured (ports chosen, zoo.cfg and myid written) but not
    /// started, for tests of what happens before ZooKeeper is there.
    pub fn configure(n: usize) -> ZooKeeper {
        assert!(n >= 1);
        let base = fresh_dir("zookeeper");
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let servers = (1..=n)
            .map(|id| {
                let dir = base.join(format!("server{id}"));
                let data = dir.join("data");
                fs::create_dir_all(&data).expect("create the ZooKeeper data dir");
                let (client_port, _, _) = ports[id - 1];
                let mut cfg = format!(
                    "tickTime=200\n\
                     initLimit=50\n\
                     syncLimit=25\n\
                     minSessionTimeout=1000\n\
                     maxSessionTimeout=60000\n\
                     dataDir={}\n\
                     clientPortAddress=127.0.0.1\n\
                     clientPort={client_port}\n\
                     admin.enableServer=false\n\
                     4lw.commands.whitelist=ruok,srvr,stat\n",
                    data.display()
                );
                if n > 1 {
                    for (peer, (_, quorum, election)) in ports.iter().enumerate() {
                        cfg.push_str(&format!(
                            "server.{}=127.0.0.1:{quorum}:{election}\n",
                            peer + 1
                        ));
                    }
                    fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
                }
                fs::write(dir.join("zoo.cfg"), cfg).expect("write zoo.cfg");
                Server {
                    id,
                    client_port,
                    dir,
                    child: None,
                }
            })
            .collect();
        ZooKeeper { servers }
    }

    /// Starts every server not running and waits until the ensemble serves.
    pub fn start(&mut self) {
        for index in 0..self.servers.len() {
            if self.servers[index].child.is_none() {
                self.spawn(index);
            }
        }
        self.wait_serving();
    }

    /// Starts server `index` (0-based) again after [`ZooKeeper::stop_server`], without
    /// waiting.
    pub fn spawn(&mut self, index: usize) {
        let server = &mut self.servers[index];
        let log = File::create(server.dir.join("server.log")).expect("create server.log");
        let log_err = log.try_clone().expect("clone server.log");
        let child = Command::new("java")
            .args([
                "-Xmx512m",
                "-XX:+UseSerialGC",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                ZOOKEEPER_JAR,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(server.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn java for ZooKeeper (scripts/setup-zookeeper.sh installs it)");
        server.child = Some(child);
    }

    /// Waits until a quorum serves: every running server answers `srvr` with its mode.
    pub fn wait_serving(&mut self) {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let running: Vec<u16> = self
                .servers
                .iter()
                .filter(|s| s.child.is_some())
                .map(|s| s.client_port)
                .collect();
            let serving = running
                .iter()
                .filter(|port| {
                    four_letter(**port, "srvr").is_some_and(|answer| answer.contains("Mode: "))
                })
                .count();
            if !running.is_empty() && serving == running.len() {
                return;
            }
            for server in &mut self.servers {
                if let Some(child) = &mut server.child
                    && let Ok(Some(status)) = child.try_wait()
                {
                    panic!(
                        "ZooKeeper server {} exited with {status}:\n{}",
                        server.id,
                        fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not start serving in {START_PATIENCE:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills server `index` (SIGKILL) and waits for it to be gone.
    pub fn stop_server(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills every server.
    pub fn stop(&mut self) {
        for index in 0..self.servers.len() {
            self.stop_server(index);
        }
    }

    /// `host:port,host:port` of every server.
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `zk://…/path` URL of this ensemble.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.connect_string())
    }

    /// A client session with this ensemble (operations name absolute paths).
    pub async fn session(&self) -> ratufa_zk::ZkSession {
        use ratufa_zk::Connector as _;
        let url = ratufa_zk::ZkUrl::parse(&self.url("/mesos")).expect("a zk:// URL");
        ratufa_zk::ZkConnector::new(url, Duration::from_secs(10))
            .connect()
            .await
            .expect("connect to ZooKeeper")
    }

    /// The client address of server `index`.
    pub fn addr(&self, index: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.servers[index].client_port))
    }

    /// Every server's log, for failure messages.
    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                format!(
                    "--- zookeeper server {} ---\n{}",
                    s.id,
                    fs::read_to_string(s.dir.join("server.log")).unwrap_or_default()
                )
            })
            .collect()
    }

    /// Server `index`'s answer to a four-letter command (`ruok`, `srvr`, `stat`).
    pub fn ask(&self, index: usize, command: &str) -> Option<String> {
        four_letter(self.servers[index].client_port, command)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.stop();
        if let Some(base) = self.servers.first().and_then(|s| s.dir.parent()) {
            let _ = fs::remove_dir_all(base);
        }
    }
}

/// Sends a four-letter command and reads the answer to the end; None when nothing
/// listens or the server closes without a word.
fn four_letter(port: u16, command: &str) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}
