//! Shared helpers for the end-to-end tests: start the real `ratufa` binary as a child
//! process on a free port, talk HTTP/1.1 to it over a plain `TcpStream` (or TLS over
//! one, for a master started with TLS), and read subscription streams record by record.
//!
//! The HTTP client and the RecordIO reader are written here on purpose, not taken from
//! the gateway: the tests check the server's bytes independently of its own framing
//! code, and they need to send requests no well-behaved client would (a lying
//! `Content-Length`, raw bytes, no `Content-Type`).

#![allow(dead_code)] // each test binary uses a different subset

pub mod scratch;
pub use scratch::{free_port, fresh_dir};

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use ratufa_proto::v1::scheduler::Event;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const JSON: &str = "application/json";
pub const PROTOBUF: &str = "application/x-protobuf";
pub const SCHEDULER: &str = "/api/v1/scheduler";

/// How long any single expected thing (a response, a record, a stream's end) may take
/// before the test fails. Generous: the machine is shared and debug builds are slow.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The heartbeat interval the scheduler API tests run the master with (Mesos's
/// default is 15 s).
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A shorter interval for tests that only need to see that a stream is still alive,
/// so waiting for the next heartbeat costs little.
pub const FAST_HEARTBEAT: Duration = Duration::from_millis(200);

/// The hostname the tests give the master, so `master_info.hostname` is predictable.
pub const HOSTNAME: &str = "localhost";

// ---------------------------------------------------------------------------------------
// The master process

/// A `ratufa master` child process, killed (and its work dir removed) on drop.
pub struct Master {
    child: Child,
    pub addr: SocketAddr,
    pub work_dir: PathBuf,
    /// The `--scheduler_heartbeat_interval` it was started with (15 s if none).
    pub heartbeat: Duration,
    log: PathBuf,
    /// For a master serving https: how the tests' client speaks TLS to it.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The flags every test master gets unless the caller says otherwise.
pub fn default_flags() -> Vec<String> {
    let mut flags = flags_with_heartbeat(HEARTBEAT);
    // As the brief's command line has it (Mesos's unit), rather than in ms.
    flags[0] = format!("--scheduler_heartbeat_interval={}secs", HEARTBEAT.as_secs());
    flags
}

/// [`default_flags`] with another heartbeat interval (whole milliseconds).
pub fn flags_with_heartbeat(interval: Duration) -> Vec<String> {
    vec![
        format!("--scheduler_heartbeat_interval={}ms", interval.as_millis()),
        format!("--hostname={HOSTNAME}"),
    ]
}

impl Master {
    /// A master with [`default_flags`].
    pub async fn start() -> Master {
        Master::start_with(&default_flags()).await
    }

    /// A master with a [`FAST_HEARTBEAT`], for tests that do not time heartbeats.
    pub async fn start_fast() -> Master {
        Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await
    }

    /// A master with `--ip`, `--port` and `--work_dir` chosen here, plus `flags`.
    ///
    /// The port is found by binding 127.0.0.1:0 and letting go of it; another process
    /// may take it in between, so a master that exits before answering `/health` is
    /// started again on another port (a few times).
    pub async fn start_with(flags: &[String]) -> Master {
        Master::start_as("master", flags).await
    }

    /// `ratufa <subcommand>` (`master` or `local`) with `flags`, as [`start_with`].
    ///
    /// [`start_with`]: Master::start_with
    pub async fn start_as(subcommand: &str, flags: &[String]) -> Master {
        Master::launch(subcommand, flags, &[], None).await
    }

    /// As [`start_as`](Master::start_as), with `env` added to its environment, and
    /// spoken to over TLS with `tls` (for a master given LIBPROCESS_SSL_* in `env`).
    pub async fn launch(
        subcommand: &str,
        flags: &[String],
        env: &[(String, String)],
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Master {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let work_dir = fresh_dir("master");
            let log = work_dir.join("master.log");
            let mut master = Master {
                child: spawn_master(subcommand, port, &work_dir, &log, flags, env),
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                work_dir,
                heartbeat: heartbeat_flag(flags),
                log,
                tls: tls.clone(),
            };
            match master.wait_healthy().await {
                Ok(()) => return master,
                Err(why) => {
                    last_log = format!("{why}\n--- master log ---\n{}", master.log());
                    // Drop kills it; try another port.
                }
            }
        }
        panic!("ratufa {subcommand} did not come up: {last_log}");
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the master: SIGSTOP freezes it with its
    /// connections (to ZooKeeper, agents, frameworks) left open.
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// SIGKILL: the master gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the master (SIGKILL) and starts `ratufa master` again on the same port
    /// and work_dir with `flags`, as an operator restarting it would; its log goes on
    /// in the same file.
    pub async fn restart(&mut self, flags: &[String]) {
        self.kill();
        self.child = spawn_master("master", self.port(), &self.work_dir, &self.log, flags, &[]);
        if let Err(why) = self.wait_healthy().await {
            panic!(
                "the restarted master did not come up: {why}\n{}",
                self.log()
            );
        }
    }

    /// Waits (up to `patience`) for the master to exit by itself; its exit code.
    pub async fn await_exit(&mut self, patience: Duration) -> Option<i32> {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the master did not exit\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the master exited early with {status}"));
            }
            let probe = tokio::time::timeout(
                Duration::from_secs(1),
                send_over(self.addr, self.tls.as_ref(), Request::get("/health")),
            )
            .await;
            if let Ok(Ok(response)) = probe
                && response.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("/health did not answer 200 in time".into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// What the master wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https` for a master spoken to over TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Sends one request on a fresh connection and reads the whole response.
    pub async fn send(&self, request: Request) -> Response {
        let what = format!("{} {}", request.method, request.path);
        match tokio::time::timeout(PATIENCE, send_over(self.addr, self.tls.as_ref(), request)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("{what}: {e}\n--- master log ---\n{}", self.log()),
            Err(_) => panic!("{what}: no response in {PATIENCE:?}"),
        }
    }

    /// POSTs `body` to the scheduler endpoint as JSON, with `headers` added.
    pub async fn post_json(&self, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::post(SCHEDULER)
            .header("Content-Type", JSON)
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.send(request).await
    }

    /// Sends a request expected to open an event stream, and reads the response head.
    /// A response that is not 200 comes back whole as `Err`.
    pub async fn open(&self, request: Request) -> Result<EventStream, Response> {
        open_over(self.addr, self.tls.as_ref(), request).await
    }

    /// `/health` still answers 200: the process is alive and serving, and nothing in
    /// it has panicked (a panic in a connection task would not stop the process).
    pub async fn assert_alive(&self) {
        let response = self.send(Request::get("/health")).await;
        assert_eq!(response.status, 200, "/health: {response:?}");
        let log = self.log();
        assert!(!log.contains("panicked"), "the master panicked:\n{log}");
    }
}

/// Sends `signal` (`STOP`, `CONT`, …) to `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `ratufa local`'s agents keep their sandboxes under the master's work dir.
        scratch::end_processes_under(&self.work_dir);
        if std::thread::panicking() {
            eprintln!(
                "master on {} (work dir {}) log:\n{}",
                self.addr,
                self.work_dir.display(),
                self.log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// `ratufa <subcommand>` on 127.0.0.1:`port` with `<work_dir>/work` as its work_dir,
/// `flags` and `env`, logging (appending) to `log`.
fn spawn_master(
    subcommand: &str,
    port: u16,
    work_dir: &std::path::Path,
    log: &std::path::Path,
    flags: &[String],
    env: &[(String, String)],
) -> Child {
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open master.log");
    let log_err = log_file.try_clone().expect("clone master.log handle");
    Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .arg(subcommand)
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", work_dir.join("work").display()))
        .args(flags)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(log_err))
        .spawn()
        .expect("spawn the ratufa binary")
}

/// The interval a `--scheduler_heartbeat_interval=<n>ms|<n>secs` flag sets; Mesos's
/// 15 s without one.
fn heartbeat_flag(flags: &[String]) -> Duration {
    let Some(value) = flags
        .iter()
        .find_map(|f| f.strip_prefix("--scheduler_heartbeat_interval="))
    else {
        return Duration::from_secs(15);
    };
    if let Some(ms) = value.strip_suffix("ms").and_then(|n| n.parse().ok()) {
        Duration::from_millis(ms)
    } else if let Some(secs) = value.strip_suffix("secs").and_then(|n| n.parse().ok()) {
        Duration::from_secs(secs)
    } else {
        panic!("the tests only write ms or secs heartbeat intervals, not {value:?}")
    }
}

/// `Authorization: Basic …` for `principal:secret`.
pub fn basic_auth(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{principal}:{secret}").as_bytes())
    )
}

/// Standard base64 with padding (RFC 4648), enough for a Basic credential.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in input.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn post(path: &str) -> Request {
        Request::new("POST", path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request as bytes. `Host` and `Content-Length` are added unless given (a test
    /// that wants a lying length sets its own), and `Connection: close` unless given.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self.has_header("Host") {
            head.push_str("Host: ratufa-test\r\n");
        }
        if !self.has_header("Content-Length") && !self.has_header("Transfer-Encoding") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if !self.has_header("Connection") {
            head.push_str("Connection: close\r\n");
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON document of a `?jsonp=<callback>` answer: 200, `text/javascript`,
    /// `<callback>(<document>);` as Mesos writes it.
    pub fn jsonp_document(&self, callback: &str) -> serde_json::Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(
            self.header("Content-Type"),
            Some("text/javascript"),
            "{self:?}"
        );
        let text = self.text();
        let inner = text
            .strip_prefix(&format!("{callback}("))
            .and_then(|rest| rest.strip_suffix(");"))
            .unwrap_or_else(|| panic!("not {callback}(…); : {text}"));
        serde_json::from_str(inner).unwrap_or_else(|e| panic!("{e}: {inner}"))
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {:?}", self.status, self.headers, self.text())
    }
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends one request on a new connection and reads the whole response.
pub async fn send_to(addr: SocketAddr, request: Request) -> Result<Response, String> {
    send_over(addr, None, request).await
}

/// As [`send_to`], over TLS when `tls` is given.
pub async fn send_over(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: Request,
) -> Result<Response, String> {
    let mut conn = Conn::connect_over(addr, tls).await?;
    conn.write(&request.to_bytes()).await?;
    conn.read_response(&request.method).await
}

/// A connection kept open across requests, as clients that reuse connections for
/// their calls do.
pub struct KeepAlive {
    conn: Conn,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            conn: Conn::connect(addr).await.unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// Sends `request` (with `Connection: keep-alive`) and reads its response.
    pub async fn send(&mut self, request: Request) -> Response {
        let what = format!("{} {}", request.method, request.path);
        let request = request.header("Connection", "keep-alive");
        let exchange = async {
            self.conn.write(&request.to_bytes()).await?;
            self.conn.read_response(&request.method).await
        };
        match tokio::time::timeout(PATIENCE, exchange).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("{what} on a kept-alive connection: {e}"),
            Err(_) => panic!("{what} on a kept-alive connection: no response in {PATIENCE:?}"),
        }
    }
}

/// Sends `bytes` as they are (no framing added) and reads one response.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Result<Response, String> {
    let mut conn = Conn::connect(addr).await?;
    conn.write(bytes).await?;
    conn.read_response("POST").await
}

pub async fn open_on(addr: SocketAddr, request: Request) -> Result<EventStream, Response> {
    open_over(addr, None, request).await
}

/// As [`open_on`], over TLS when `tls` is given.
pub async fn open_over(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: Request,
) -> Result<EventStream, Response> {
    let what = format!("{} {}", request.method, request.path);
    let opened = tokio::time::timeout(PATIENCE, async {
        let mut conn = Conn::connect_over(addr, tls).await?;
        conn.write(&request.to_bytes()).await?;
        let head = conn.read_head().await?;
        Ok::<_, String>((conn, head))
    })
    .await;
    let (mut conn, head) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: no response head in {PATIENCE:?}"),
    };
    if head.status != 200 {
        let body = tokio::time::timeout(PATIENCE, conn.read_body(&head, &request.method))
            .await
            .unwrap_or_else(|_| Err("body timed out".into()))
            .unwrap_or_else(|e| panic!("{what}: reading the error body: {e}"));
        return Err(Response {
            status: head.status,
            headers: head.headers,
            body,
        });
    }
    let framing = body_framing(&head, &request.method);
    Ok(EventStream {
        status: head.status,
        headers: head.headers,
        conn,
        framing,
        chunk: ChunkState::Size,
        body: Vec::new(),
        eof: false,
        ended: false,
    })
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Chunked,
    Length(usize),
    UntilClose,
    Empty,
}

fn body_framing(head: &Head, method: &str) -> Framing {
    if method == "HEAD" || head.status == 204 || head.status == 304 || head.status < 200 {
        return Framing::Empty;
    }
    if header_in(&head.headers, "Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        return Framing::Chunked;
    }
    match header_in(&head.headers, "Content-Length").and_then(|v| v.trim().parse().ok()) {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    }
}

/// A byte stream to the server: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection and the bytes read from it that nobody has consumed yet.
struct Conn {
    stream: Box<dyn Io>,
    raw: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Conn, String> {
        Conn::connect_over(addr, None).await
    }

    /// With `tls`, the TLS handshake is done here, verifying the server's certificate
    /// for `addr`'s IP address.
    async fn connect_over(
        addr: SocketAddr,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        tcp.set_nodelay(true).ok();
        let stream: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
                Box::new(tls)
            }
        };
        Ok(Conn {
            stream,
            raw: Vec::new(),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads more bytes into `raw`; `Ok(false)` at end of stream. Cancel-safe: a read
    /// that is abandoned has taken nothing from the socket.
    async fn fill(&mut self) -> Result<bool, String> {
        let mut buf = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    }

    async fn read_head(&mut self) -> Result<Head, String> {
        loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                self.raw.drain(..end + 4);
                return parse_head(&head);
            }
            if !self.fill().await? {
                return Err(format!(
                    "connection closed before a complete response head (got {:?})",
                    String::from_utf8_lossy(&self.raw)
                ));
            }
        }
    }

    async fn read_body(&mut self, head: &Head, method: &str) -> Result<Vec<u8>, String> {
        match body_framing(head, method) {
            Framing::Empty => Ok(Vec::new()),
            Framing::Length(n) => {
                while self.raw.len() < n {
                    if !self.fill().await? {
                        return Err(format!(
                            "connection closed after {} of {n} body bytes",
                            self.raw.len()
                        ));
                    }
                }
                Ok(self.raw.drain(..n).collect())
            }
            Framing::UntilClose => {
                while self.fill().await? {}
                Ok(std::mem::take(&mut self.raw))
            }
            Framing::Chunked => {
                let mut state = ChunkState::Size;
                let mut body = Vec::new();
                loop {
                    decode_chunks(&mut self.raw, &mut state, &mut body)?;
                    if state == ChunkState::Done {
                        return Ok(body);
                    }
                    if !self.fill().await? {
                        return Err("connection closed inside a chunked body".into());
                    }
                }
            }
        }
    }

    async fn read_response(&mut self, method: &str) -> Result<Response, String> {
        let head = self.read_head().await?;
        let body = self.read_body(&head, method).await?;
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &str) -> Result<Head, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line: {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Head { status, headers })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ChunkState {
    Size,
    Data(usize),
    DataEnd,
    Trailers,
    Done,
}

/// Moves whatever complete chunked-encoding pieces `raw` holds into `body`.
fn decode_chunks(
    raw: &mut Vec<u8>,
    state: &mut ChunkState,
    body: &mut Vec<u8>,
) -> Result<(), String> {
    loop {
        match *state {
            ChunkState::Size => {
                let Some(end) = find(raw, b"\r\n") else {
                    return Ok(());
                };
                let line = String::from_utf8_lossy(&raw[..end]).into_owned();
                raw.drain(..end + 2);
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| format!("bad chunk size line {line:?}"))?;
                *state = if size == 0 {
                    ChunkState::Trailers
                } else {
                    ChunkState::Data(size)
                };
            }
            ChunkState::Data(left) => {
                if raw.is_empty() {
                    return Ok(());
                }
                let n = left.min(raw.len());
                body.extend(raw.drain(..n));
                *state = if n == left {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(left - n)
                };
            }
            ChunkState::DataEnd => {
                if raw.len() < 2 {
                    return Ok(());
                }
                if &raw[..2] != b"\r\n" {
                    return Err(format!("chunk not followed by CRLF: {:?}", &raw[..2]));
                }
                raw.drain(..2);
                *state = ChunkState::Size;
            }
            ChunkState::Trailers => {
                let Some(end) = find(raw, b"\r\n") else {
                    return Ok(());
                };
                raw.drain(..end + 2);
                if end == 0 {
                    *state = ChunkState::Done;
                }
            }
            ChunkState::Done => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Event streams and RecordIO

/// How a stream stopped giving records.
#[derive(Debug, PartialEq)]
pub enum StreamEnd {
    /// The body ended properly (terminating chunk) with no partial record.
    Closed,
    /// Nothing arrived in time.
    TimedOut,
    /// The bytes broke HTTP or RecordIO framing, or the connection dropped mid-body.
    Broken(String),
}

/// An open subscription: the response head, and its body read as RecordIO records.
pub struct EventStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    conn: Conn,
    framing: Framing,
    chunk: ChunkState,
    /// Body bytes (de-chunked) not yet taken as records.
    body: Vec<u8>,
    eof: bool,
    ended: bool,
}

impl EventStream {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    pub fn stream_id(&self) -> String {
        self.header("Mesos-Stream-Id")
            .unwrap_or_else(|| panic!("no Mesos-Stream-Id in {:?}", self.headers))
            .to_string()
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The next RecordIO record, or why there is none within `within`.
    pub async fn next_record_within(&mut self, within: Duration) -> Result<Vec<u8>, StreamEnd> {
        match tokio::time::timeout(within, self.next_record_inner()).await {
            Ok(result) => result,
            Err(_) => Err(StreamEnd::TimedOut),
        }
    }

    async fn next_record_inner(&mut self) -> Result<Vec<u8>, StreamEnd> {
        loop {
            if let Some(record) = take_record(&mut self.body).map_err(StreamEnd::Broken)? {
                return Ok(record);
            }
            if self.ended {
                return if self.body.is_empty() {
                    Err(StreamEnd::Closed)
                } else {
                    Err(StreamEnd::Broken(format!(
                        "stream ended inside a record: {:?}",
                        String::from_utf8_lossy(&self.body)
                    )))
                };
            }
            match self.framing {
                Framing::Chunked => {
                    decode_chunks(&mut self.conn.raw, &mut self.chunk, &mut self.body)
                        .map_err(StreamEnd::Broken)?;
                    if self.chunk == ChunkState::Done {
                        self.ended = true;
                        continue;
                    }
                    // Bytes that came with the response head (or with the last read)
                    // may hold whole records: take them before waiting for more.
                    if let Some(record) = take_record(&mut self.body).map_err(StreamEnd::Broken)? {
                        return Ok(record);
                    }
                }
                _ => self.body.append(&mut self.conn.raw),
            }
            if self.eof {
                if self.framing == Framing::Chunked {
                    return Err(StreamEnd::Broken(
                        "connection closed without the terminating chunk".into(),
                    ));
                }
                self.ended = true;
                continue;
            }
            match self.conn.fill().await {
                Ok(true) => {}
                Ok(false) => self.eof = true,
                Err(e) => return Err(StreamEnd::Broken(e)),
            }
        }
    }

    /// The next record; fails the test if none comes within [`PATIENCE`].
    pub async fn record(&mut self) -> Vec<u8> {
        match self.next_record_within(PATIENCE).await {
            Ok(record) => record,
            Err(end) => panic!("expected a record, got {end:?}"),
        }
    }

    /// The next record as JSON.
    pub async fn json(&mut self) -> Value {
        let record = self.record().await;
        serde_json::from_slice(&record).unwrap_or_else(|e| {
            panic!(
                "record is not JSON ({e}); the length prefix may not count bytes: {:?}",
                String::from_utf8_lossy(&record)
            )
        })
    }

    /// The next record that is not a HEARTBEAT, as JSON.
    pub async fn json_skipping_heartbeats(&mut self) -> Value {
        loop {
            let event = self.json().await;
            if event["type"] != "HEARTBEAT" {
                return event;
            }
        }
    }

    /// The next record as a protobuf `Event`.
    pub async fn proto(&mut self) -> Event {
        let record = self.record().await;
        Event::decode(record.as_slice())
            .unwrap_or_else(|e| panic!("record is not a protobuf Event ({e}): {record:?}"))
    }

    /// Reads until the body ends properly, allowing only HEARTBEAT records (JSON) before
    /// the end; fails the test otherwise or if it takes longer than `within`.
    pub async fn expect_end_within(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_record_within(left).await {
                Ok(record) => {
                    let event: Value = serde_json::from_slice(&record).unwrap_or(Value::Null);
                    assert_eq!(
                        event["type"],
                        "HEARTBEAT",
                        "expected the stream to end, got a record: {:?}",
                        String::from_utf8_lossy(&record)
                    );
                }
                Err(StreamEnd::Closed) => return,
                Err(end) => panic!("expected the stream to end properly, got {end:?}"),
            }
        }
    }

    /// The stream is still open: a HEARTBEAT arrives within two intervals of
    /// `interval` (and half a second's slack), and nothing else (no ERROR) comes first.
    pub async fn expect_heartbeat(&mut self, interval: Duration) {
        match self
            .next_record_within(interval * 2 + Duration::from_millis(500))
            .await
        {
            Ok(record) => {
                let event: Value = serde_json::from_slice(&record).unwrap_or(Value::Null);
                assert_eq!(
                    event["type"],
                    "HEARTBEAT",
                    "expected a HEARTBEAT, got {:?}",
                    String::from_utf8_lossy(&record)
                );
            }
            Err(end) => panic!("expected a HEARTBEAT, got {end:?}"),
        }
    }
}

/// Takes one complete record off the front of `buf`, checking the length prefix:
/// ASCII digits, then `\n`, never 0. `Ok(None)` while the record is incomplete.
pub fn take_record(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(newline) = buf.iter().position(|b| *b == b'\n') else {
        if let Some(bad) = buf.iter().find(|b| !b.is_ascii_digit()) {
            return Err(format!("RecordIO: non-digit {bad:#04x} in a length prefix"));
        }
        if buf.len() > 20 {
            return Err("RecordIO: length prefix longer than 20 digits".into());
        }
        return Ok(None);
    };
    let prefix = &buf[..newline];
    if prefix.is_empty() || !prefix.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "RecordIO: bad length prefix {:?}",
            String::from_utf8_lossy(prefix)
        ));
    }
    let len: usize = std::str::from_utf8(prefix)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "RecordIO: length does not fit".to_string())?;
    if len == 0 {
        return Err("RecordIO: empty record (length 0)".into());
    }
    if buf.len() < newline + 1 + len {
        return Ok(None);
    }
    let record = buf[newline + 1..newline + 1 + len].to_vec();
    buf.drain(..newline + 1 + len);
    Ok(Some(record))
}

// ---------------------------------------------------------------------------------------
// Scheduler calls (JSON, as a person with curl would write them)

/// A minimal FrameworkInfo.
pub fn framework_info(name: &str) -> Value {
    json!({"user": "root", "name": name})
}

/// A SUBSCRIBE call for `info`, with `Call.framework_id` set when `info` has an id.
pub fn subscribe_call(info: &Value) -> Value {
    let mut call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}});
    if let Some(id) = info.get("id") {
        call["framework_id"] = id.clone();
    }
    call
}

/// A call of `kind` for framework `id`, with no sub-message.
pub fn bare_call(kind: &str, id: &str) -> Value {
    json!({"type": kind, "framework_id": {"value": id}})
}

/// The SUBSCRIBE request for `call`, in JSON, asking for JSON back.
pub fn subscribe_request(call: &Value) -> Request {
    Request::post(SCHEDULER)
        .header("Content-Type", JSON)
        .header("Accept", JSON)
        .body(call.to_string())
}

/// A subscribed framework: its id, its stream and the SUBSCRIBED event.
pub struct Framework {
    pub id: String,
    pub stream_id: String,
    pub stream: EventStream,
    pub subscribed: Value,
    /// The FrameworkInfo it subscribed with, its `id` filled in from SUBSCRIBED.
    pub info: Value,
    /// The heartbeat interval SUBSCRIBED announced.
    pub heartbeat: Duration,
}

impl Framework {
    /// Subscribes `info` in JSON and reads SUBSCRIBED; fails the test otherwise.
    pub async fn subscribe(master: &Master, info: &Value) -> Framework {
        Framework::subscribe_with(master, subscribe_request(&subscribe_call(info))).await
    }

    /// Sends a prepared SUBSCRIBE request (JSON call, JSON answer) and reads SUBSCRIBED.
    pub async fn subscribe_with(master: &Master, request: Request) -> Framework {
        let call: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut stream = match master.open(request).await {
            Ok(stream) => stream,
            Err(response) => panic!("SUBSCRIBE refused: {response:?}"),
        };
        let stream_id = stream.stream_id();
        let subscribed = stream.json().await;
        assert_eq!(
            subscribed["type"], "SUBSCRIBED",
            "first event: {subscribed}"
        );
        let id = subscribed["subscribed"]["framework_id"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("SUBSCRIBED without framework_id: {subscribed}"))
            .to_string();
        let heartbeat = subscribed["subscribed"]["heartbeat_interval_seconds"]
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or_else(|| {
                panic!("SUBSCRIBED without heartbeat_interval_seconds: {subscribed}")
            });
        let mut info = call["subscribe"]["framework_info"].clone();
        if info.is_object() {
            info["id"] = json!({"value": id});
        }
        Framework {
            id,
            stream_id,
            stream,
            subscribed,
            info,
            heartbeat,
        }
    }

    /// FrameworkInfo for re-subscribing as this framework under `name`.
    pub fn info(&self, name: &str) -> Value {
        let mut info = self.info.clone();
        info["name"] = json!(name);
        info
    }

    /// POSTs `call` in JSON with this framework's stream id.
    pub async fn call(&self, master: &Master, call: &Value) -> Response {
        master
            .post_json(call, &[("Mesos-Stream-Id", &self.stream_id)])
            .await
    }

    /// An UPDATE_FRAMEWORK that changes nothing: a call that needs a live, current
    /// subscription and is answered 200 when it has one.
    pub fn noop_call(&self) -> Value {
        json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": self.id},
               "update_framework": {"framework_info": self.info}})
    }

    /// The framework is untouched by whatever just happened: its stream still carries
    /// heartbeats (and no ERROR), and a call on it is still served.
    pub async fn assert_still_served(&mut self, master: &Master) {
        let response = self.call(master, &self.noop_call()).await;
        assert_eq!(
            response.status, 200,
            "UPDATE_FRAMEWORK (no change) after the bad request: {response:?}"
        );
        self.expect_heartbeat().await;
    }

    /// A HEARTBEAT is the next record on the stream, in time.
    pub async fn expect_heartbeat(&mut self) {
        self.stream.expect_heartbeat(self.heartbeat).await;
    }
}

/// `value` looks like a UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `value` is a FrameworkID of the `<master uuid>-<4 digits>` form; returns the counter.
pub fn framework_counter(value: &str) -> Option<u32> {
    let (master_id, counter) = value.rsplit_once('-')?;
    (is_uuid(master_id) && counter.len() == 4 && counter.chars().all(|c| c.is_ascii_digit()))
        .then(|| counter.parse().ok())
        .flatten()
}

/// `ratufa local` with one agent (`cpus:2;mem:512`) on a port of its own, plus `extra`
/// flags; returns the master and the agent's port. The port is free when picked but may
/// be taken before the agent binds it (by another test's process), and then `ratufa
/// local` exits: pick another and start again.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub async fn start_local_with_agent(extra: &[String]) -> (Master, u16) {
    let mut failures = Vec::new();
    for _attempt in 0..3 {
        let agent_port = free_port();
        let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
        flags.push("--num_agents=1".to_string());
        flags.push("--resources=cpus:2;mem:512".to_string());
        flags.push(format!("--agent_port={agent_port}"));
        flags.extend(extra.iter().cloned());
        // start_as panics when the cluster does not come up; a task keeps that panic.
        match tokio::spawn(async move { Master::start_as("local", &flags).await }).await {
            Ok(master) => return (master, agent_port),
            Err(e) => failures.push(format!("--agent_port={agent_port}: {e}")),
        }
    }
    panic!("ratufa local did not come up: {failures:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_taken_by_byte_length() {
        let mut buf = "5\nhéll3\nabc2\nx".as_bytes().to_vec();
        assert_eq!(take_record(&mut buf).unwrap().unwrap(), "héll".as_bytes());
        assert_eq!(take_record(&mut buf).unwrap().unwrap(), b"abc");
        assert_eq!(take_record(&mut buf).unwrap(), None);
        assert!(take_record(&mut b"0\n".to_vec()).is_err());
        assert!(take_record(&mut b"\nabc".to_vec()).is_err());
        assert!(take_record(&mut b"1x\n".to_vec()).is_err());
    }

    #[test]
    fn chunks_are_decoded_across_reads() {
        let mut state = ChunkState::Size;
        let mut body = Vec::new();
        let mut raw = b"3\r\nab".to_vec();
        decode_chunks(&mut raw, &mut state, &mut body).unwrap();
        raw.extend_from_slice(b"c\r\n1;ext=1\r\nd\r\n0\r\n\r\n");
        decode_chunks(&mut raw, &mut state, &mut body).unwrap();
        assert_eq!(body, b"abcd");
        assert_eq!(state, ChunkState::Done);
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"p:s"), "cDpz");
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn framework_ids_are_recognised() {
        assert_eq!(
            framework_counter("5a2e3c1d-0b9f-4c3e-9a8d-7f6e5d4c3b2a-0003"),
            Some(3)
        );
        assert_eq!(framework_counter("abc-0000"), None);
        assert_eq!(
            framework_counter("5a2e3c1d-0b9f-4c3e-9a8d-7f6e5d4c3b2a-3"),
            None
        );
    }
}
