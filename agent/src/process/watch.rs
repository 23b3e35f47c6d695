//! Watching a process that is not our child: an executor found again after an agent
//! restart was forked by the previous agent, so there is no wait status to collect,
//! only the fact that it is gone.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// How often the fallback (no pidfd) looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Whether `pid` names a process that has not exited. A zombie (exited, not yet
/// reaped by its parent) counts as gone.
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists, owned by someone we may not signal.
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !exited(pid)
}

/// When process `pid` started (clock ticks after boot, field 22 of /proc/<pid>/stat);
/// `None` when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    crate::http::procfs::parse_stat(&stat).map(|stat| stat.start_time)
}

/// Whether `pid` still names the process that started at `started` (as recorded when
/// it was launched); with no record (a checkpoint from before start times were kept),
/// whether it names a live process at all.
pub fn same_process(pid: i32, started: Option<u64>) -> bool {
    alive(pid) && started.is_none_or(|started| start_time(pid) == Some(started))
}

/// Whether /proc shows `pid` as a zombie or dead (gone from /proc counts too).
fn exited(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the
    // last ')'.
    let state = stat
        .rfind(')')
        .and_then(|at| stat[at + 1..].trim_start().chars().next());
    matches!(state, Some('Z' | 'X' | 'x'))
}

/// Resolves once `pid` has exited (at once if there is no such process). Uses a pidfd,
/// which becomes readable when the process exits; where the kernel has none (before
/// 5.3), looks every 100 ms. Cancel safe.
pub async fn wait_for_exit(pid: i32) {
    match pidfd_open(pid) {
        Ok(fd) => wait_on_pidfd(pid, fd).await,
        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
        Err(error) => {
            tracing::debug!(pid, %error, "no pidfd; polling the pid");
            poll_until_gone(pid).await;
        }
    }
}

/// Resolves once the process of pidfd `fd` (pid `pid`) has exited; where the pidfd
/// cannot be polled, looks at the pid every 100 ms.
async fn wait_on_pidfd(pid: i32, fd: OwnedFd) {
    // SAFETY: an OwnedFd is a valid open descriptor that stays open, the same one,
    // for as long as the AsyncFd owns it.
    match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => {
            if let Err(error) = fd.readable().await {
                tracing::warn!(pid, %error, "cannot poll the pidfd; polling the pid");
                poll_until_gone(pid).await;
            }
        }
        Err(error) => {
            tracing::debug!(pid, %error, "cannot register the pidfd; polling the pid");
            poll_until_gone(pid).await;
        }
    }
}

/// Ends a process that is not our child and its session (as [`super::Process::kill`]
/// does for a child): SIGTERM, SIGKILL once `grace` has passed with the leader still
/// there; resolves when the leader is gone. There is no exit status to tell.
pub async fn terminate(pid: i32, grace: Duration) {
    // 0 and -1 would be our own group and everything; 1 is init. None is an executor.
    if pid <= 1 {
        return;
    }
    // Opened once, now: every signal to the leader goes through it, so none can reach
    // a process that was given the pid after the leader was reaped by someone else.
    let leader = Leader::open(pid);
    // The leader itself too, should it not lead a session or group.
    leader.signal(libc::SIGTERM);
    super::signal_session(pid, libc::SIGTERM);
    let ended = tokio::time::timeout(grace, leader.wait_for_exit())
        .await
        .is_ok();
    if !ended {
        tracing::debug!(pid, ?grace, "grace period over, SIGKILL");
    }
    // Not our child: whoever reaps it may have done so, and the pid gone to a new
    // process. While anything of its session is left, the kernel keeps the pid (their
    // session id) from being given out; a live process under it once the leader has
    // ended is another one, its session not ours (ours is empty then): left alone.
    if ended && alive(pid) {
        tracing::debug!(
            pid,
            "the pid names another process now; nothing left to kill"
        );
        return;
    }
    // The leader may have ended since the grace period ran out: told by the pidfd,
    // and then a live process under its pid is another one, as above.
    if !leader.signal(libc::SIGKILL) && leader.has_pidfd() && alive(pid) {
        tracing::debug!(pid, "the leader ended; the pid names another process now");
        return;
    }
    // What the leader left in its session goes too.
    super::signal_session(pid, libc::SIGKILL);
    leader.wait_for_exit().await;
}

/// The leader of what [`terminate`] ends, named by a pidfd where the kernel has them (a
/// pidfd names one process for good), else by its pid.
enum Leader {
    Pidfd { pid: i32, fd: OwnedFd },
    Pid(i32),
}

impl Leader {
    fn open(pid: i32) -> Leader {
        match pidfd_open(pid) {
            Ok(fd) => Leader::Pidfd { pid, fd },
            Err(error) => {
                // ESRCH: gone already, and the pid is as good as a pidfd (its signals
                // fail alike); else a kernel before 5.3.
                if error.raw_os_error() != Some(libc::ESRCH) {
                    tracing::debug!(pid, %error, "no pidfd; signalling by pid");
                }
                Leader::Pid(pid)
            }
        }
    }

    fn has_pidfd(&self) -> bool {
        matches!(self, Leader::Pidfd { .. })
    }

    /// Sends `signal` to the leader; false when it is gone (ESRCH).
    fn signal(&self, signal: i32) -> bool {
        match self {
            Leader::Pidfd { pid, fd } => {
                // SAFETY: pidfd_send_signal takes a descriptor we own, a signal number,
                // a null siginfo (as kill would fill it) and flags; it writes nothing.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        signal,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if rc == 0 {
                    return true;
                }
                let error = std::io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::ESRCH) => false,
                    // pidfd_open without pidfd_send_signal (5.1) is no kernel we know
                    // of, but a seccomp filter may deny the one and not the other.
                    Some(libc::ENOSYS) => Leader::Pid(*pid).signal(signal),
                    _ => {
                        tracing::warn!(pid, signal, %error, "cannot signal the pidfd");
                        true
                    }
                }
            }
            Leader::Pid(pid) => {
                // SAFETY: plain integers in, nothing of ours touched.
                let rc = unsafe { libc::kill(*pid, signal) };
                rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
            }
        }
    }

    /// Resolves once the leader has exited.
    async fn wait_for_exit(&self) {
        match self {
            Leader::Pidfd { pid, fd } => match fd.try_clone() {
                Ok(fd) => wait_on_pidfd(*pid, fd).await,
                Err(error) => {
                    tracing::debug!(pid, %error, "cannot duplicate the pidfd; polling the pid");
                    poll_until_gone(*pid).await;
                }
            },
            Leader::Pid(pid) => wait_for_exit(*pid).await,
        }
    }
}

/// The fallback of [`wait_for_exit`].
async fn poll_until_gone(pid: i32) {
    while alive(pid) {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

pub(super) fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("pidfd out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A `sleep` whose parent is a shell that has already exited: not our child.
    struct Orphan(i32);

    impl Orphan {
        fn start(seconds: u32) -> Orphan {
            Orphan::run(&format!("exec sleep {seconds}"))
        }

        /// `script` in a subshell in the background of a shell that exits at once.
        fn run(script: &str) -> Orphan {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("({script}) >/dev/null 2>&1 & echo $!"))
                .output()
                .unwrap();
            assert!(out.status.success());
            let pid = String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            Orphan(pid)
        }

        fn kill(&self) {
            // SAFETY: plain integers in, nothing of ours touched.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }

    impl Drop for Orphan {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// Parent pid of `pid`, from /proc.
    fn parent(pid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn a_pid_with_another_start_time_is_another_process() {
        let orphan = Orphan::start(300);
        let started = start_time(orphan.0).expect("a live process has a start time");
        assert!(same_process(orphan.0, Some(started)));
        // What a checkpoint from before start times were kept says: the pid alone.
        assert!(same_process(orphan.0, None));
        // The pid of an earlier process: same number, another start.
        assert!(!same_process(orphan.0, Some(started.wrapping_sub(1))));
        orphan.kill();
        let gone = std::time::Instant::now() + Duration::from_secs(30);
        while alive(orphan.0) && std::time::Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !same_process(orphan.0, Some(started)),
            "a dead process is no process"
        );
        assert!(!same_process(orphan.0, None));
    }

    #[tokio::test]
    async fn wait_for_exit_follows_a_process_that_is_not_our_child() {
        let orphan = Orphan::start(300);
        assert!(alive(orphan.0));
        assert_ne!(parent(orphan.0), i32::try_from(std::process::id()).unwrap());

        let waiter = tokio::spawn(wait_for_exit(orphan.0));
        // It cannot resolve while the sleep lives (300 s, far beyond this wait).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished());

        orphan.kill();
        tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("wait_for_exit resolves once the process is killed")
            .unwrap();
        // Gone, or a zombie its new parent has not reaped yet: either way not alive.
        assert!(!alive(orphan.0));
    }

    #[tokio::test]
    async fn a_natural_exit_is_seen_too() {
        let orphan = Orphan::start(1);
        tokio::time::timeout(Duration::from_secs(30), wait_for_exit(orphan.0))
            .await
            .expect("the sleep ends by itself");
        assert!(!alive(orphan.0));
    }

    #[tokio::test]
    async fn the_polling_fallback_sees_the_exit() {
        let orphan = Orphan::start(300);
        let waiter = tokio::spawn(poll_until_gone(orphan.0));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished());
        orphan.kill();
        tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("the fallback resolves once the process is killed")
            .unwrap();
    }

    #[tokio::test]
    async fn no_such_process_is_gone_already() {
        // A child we reaped: its pid names nothing now.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0));
        assert!(!alive(-1));
        tokio::time::timeout(Duration::from_secs(30), wait_for_exit(pid))
            .await
            .expect("resolves at once");
        assert!(pidfd_open(0).is_err());
    }

    #[tokio::test]
    async fn terminate_ends_what_sigterm_ends() {
        let orphan = Orphan::start(300);
        tokio::time::timeout(
            Duration::from_secs(30),
            terminate(orphan.0, Duration::from_secs(30)),
        )
        .await
        .expect("terminate resolves once SIGTERM has ended the sleep");
        assert!(!alive(orphan.0));
    }

    #[tokio::test]
    async fn terminate_kills_what_ignores_sigterm_after_the_grace_period() {
        // An ignored signal stays ignored across exec: this sleep shrugs SIGTERM off.
        let orphan = Orphan::run("trap '' TERM; exec sleep 300");
        let ignored = std::fs::read_to_string(format!("/proc/{}/status", orphan.0)).unwrap();
        let sigign = ignored
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        assert_ne!(sigign & (1 << (libc::SIGTERM - 1)), 0, "SIGTERM is ignored");
        tokio::time::timeout(
            Duration::from_secs(30),
            terminate(orphan.0, Duration::from_millis(200)),
        )
        .await
        .expect("terminate resolves once SIGKILL has ended the sleep");
        assert!(!alive(orphan.0));
    }

    #[tokio::test]
    async fn the_leaders_pidfd_kills_a_live_process_not_ours_and_then_finds_it_gone() {
        let orphan = Orphan::start(300);
        let leader = Leader::open(orphan.0);
        assert!(leader.has_pidfd(), "this kernel has pidfds (5.3 and later)");
        assert!(alive(orphan.0));
        assert!(
            leader.signal(libc::SIGKILL),
            "a live leader takes the signal"
        );
        tokio::time::timeout(Duration::from_secs(30), leader.wait_for_exit())
            .await
            .expect("the pidfd turns readable once the leader is killed");
        assert!(!alive(orphan.0));
        // Reaped by init by now or soon: once it is, the pidfd says it is gone (ESRCH)
        // rather than signal whatever has its pid then. Before, a zombie still takes
        // signals (and ignores them).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while leader.signal(0) {
            assert!(std::time::Instant::now() < deadline, "never reaped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn terminate_leaves_pids_that_name_no_executor_alone() {
        // Our own group (0), everything (-1), init (1): each would be a disaster.
        for pid in [-1, 0, 1] {
            tokio::time::timeout(Duration::from_secs(30), terminate(pid, Duration::ZERO))
                .await
                .unwrap();
        }
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // Our own child, exited but not reaped: kill(pid, 0) still succeeds.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !exited(pid) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: plain integers in.
        assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "still a zombie");
        assert!(!alive(pid));
        child.wait().unwrap();
    }
}
