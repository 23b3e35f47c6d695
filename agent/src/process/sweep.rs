//! Finding what ended sessions left behind: one look through /proc for many sessions.
//!
//! When a container's leader ends, whatever is left in its session (an executor's
//! tasks sit in process groups of their own) is killed. The kernel keeps no list of a
//! session's members, so finding them means asking every process on the machine for
//! its session — the same work whether one session is asked about or twenty. A busy
//! agent ends tens of containers a second, so their ends share the look: the first
//! waits [`WINDOW`] for others, then one pass over /proc answers every session asked
//! about meanwhile (on a thread of its own, off the async workers).

use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::oneshot;

/// How long a pass waits for more sessions after the first one asked. A container's
/// end is reported this much later at worst; Mesos's agent notices an executor's exit
/// by polling for it every 100 ms to 1 s.
pub const WINDOW: Duration = Duration::from_millis(10);

/// One session to signal, and who waits for it.
struct Request {
    sid: i32,
    signal: i32,
    done: oneshot::Sender<()>,
}

/// The thread that makes the passes, started at the first request.
fn sweeper() -> Option<&'static mpsc::Sender<Request>> {
    static SWEEPER: OnceLock<Option<mpsc::Sender<Request>>> = OnceLock::new();
    SWEEPER
        .get_or_init(|| {
            let (requests, incoming) = mpsc::channel();
            match std::thread::Builder::new()
                .name("session-sweep".into())
                .spawn(move || sweep_batches(&incoming))
            {
                Ok(_) => Some(requests),
                Err(error) => {
                    tracing::warn!(%error, "no session sweep thread; each container's end looks through /proc alone");
                    None
                }
            }
        })
        .as_ref()
}

fn sweep_batches(incoming: &mpsc::Receiver<Request>) {
    while let Ok(first) = incoming.recv() {
        std::thread::sleep(WINDOW);
        let mut batch = vec![first];
        batch.extend(incoming.try_iter());
        let sessions: Vec<(i32, i32)> = batch.iter().map(|r| (r.sid, r.signal)).collect();
        signal_members(&sessions);
        tracing::trace!(sessions = batch.len(), "session sweep");
        for request in batch {
            // Nobody waits any more when the container's end was cancelled; fine.
            let _ = request.done.send(());
        }
    }
}

/// Sends `signal` to every process of session `sid`, in a pass over /proc shared with
/// the other sessions asked about within [`WINDOW`]; resolves once it has been sent.
/// Cancel safe (a cancelled request is still carried out).
pub async fn signal_members_batched(sid: i32, signal: i32) {
    let (done, sent) = oneshot::channel();
    let request = Request { sid, signal, done };
    let queued = match sweeper() {
        Some(requests) => requests.send(request).is_ok(),
        None => false,
    };
    // Without the thread (it could not start, or died), the look is made here.
    if !queued || sent.await.is_err() {
        signal_members(&[(sid, signal)]);
    }
}

/// For each `(sid, signal)`, sends `signal` to every process of session `sid`. /proc
/// lists every process; getsid(2) tells each one's session in a system call, where
/// reading /proc/<pid>/stat would have the kernel format some fifty fields per process.
/// Processes gone meanwhile are not an error.
pub fn signal_members(sessions: &[(i32, i32)]) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let pids = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 0);
    for pid in pids {
        // SAFETY: getsid takes a plain integer and touches no memory of ours; a pid
        // gone meanwhile is an error (-1), not a match.
        let sid = unsafe { libc::getsid(pid) };
        for &(wanted, signal) in sessions {
            if sid == wanted {
                // SAFETY: kill takes plain integers and touches no memory of ours.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }
}
