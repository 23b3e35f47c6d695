//! Starting a process without copying the caller's address space: clone(2) with
//! CLONE_VM | CLONE_VFORK, which is how the C library's posix_spawn starts a child.
//! A fork would copy the page tables of the whole caller, and the child's exec would
//! tear that copy down again, once per process (the agent starts one executor per
//! task, each command executor one task); here the child borrows the caller's memory
//! and the calling thread waits until the child has exec'd (or failed to).
//!
//! Because the memory is shared, the child runs only system calls on data prepared
//! before the clone (C strings, pointer arrays, descriptors): no allocation, no lock,
//! nothing that a signal handler of the agent could meet half done (every signal is
//! blocked in the calling thread around the clone, and the child resets the handlers
//! before unblocking). What it does between clone and exec is what the agent asks of
//! an executor's process, and an executor of its task's: a session or a process group
//! of its own, joining the container's cgroups, stdio, the working directory, the
//! task's user, the death signal.

use std::collections::HashSet;
use std::ffi::{CString, OsStr, OsString, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The child's stack until it execs: a few system calls deep, no more.
const CHILD_STACK: usize = 64 * 1024;
/// How often a child is looked at where the kernel has no pidfd (before 5.3).
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// One more than the highest signal number (Linux's _NSIG).
const NSIG: c_int = 65;
/// Where `execvp` looks when there is no PATH.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// A process to start: everything made ready for the child up front.
#[derive(Debug)]
pub struct Spawn {
    /// The program, or each PATH directory joined with it, tried in order.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    /// stdin, stdout, stderr (descriptors 3 and up, see [`above_stdio`]).
    stdio: [OwnedFd; 3],
    new_session: bool,
    new_group: bool,
    die_with_parent: bool,
    /// `cgroup.procs` files to write "0" (the child itself) into.
    join: Vec<CString>,
    /// The identity to take before exec.
    user: Option<User>,
}

/// Who the child becomes: supplementary groups, then gid, then uid (each needs the
/// privilege the next one drops).
#[derive(Debug, Clone)]
struct User {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

/// What the child reads (pointers into a [`Spawn`] that outlives it) and the one
/// thing it writes: why it could not exec.
struct ChildArgs {
    candidates: Vec<*const c_char>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// `sh <program> <args…>` for a program without a `#!` line (ENOEXEC), as execvp
    /// runs it; slot 1 is filled in by the child with the candidate that said so.
    sh_argv: Vec<*const c_char>,
    sh: *const c_char,
    cwd: *const c_char,
    fds: [c_int; 3],
    new_session: bool,
    new_group: bool,
    die_with_parent: bool,
    join: Vec<*const c_char>,
    /// uid, gid, and the groups (pointer and count) to take; `None` keeps ours.
    user: Option<(libc::uid_t, libc::gid_t, *const libc::gid_t, usize)>,
    errno: c_int,
}

fn c_string(what: &str, bytes: &[u8]) -> std::io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} holds a NUL byte"),
        )
    })
}

impl Spawn {
    /// `program` run as `argv` (argv[0] first) with this process's environment plus
    /// `env` (later entries win), in `cwd`, with the given stdio.
    pub fn new(
        program: &str,
        argv: &[&OsStr],
        env: &[(String, String)],
        cwd: &Path,
        stdio: [OwnedFd; 3],
    ) -> std::io::Result<Spawn> {
        // Ours less what `env` names, then `env` less entries a later one of the same
        // name overrides (a task's environment holds the executor's MESOS_* too: one
        // pass, not a pass over ours per variable).
        let named: HashSet<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(name, _)| !name.to_str().is_some_and(|name| named.contains(name)))
            .collect();
        let mut later: HashSet<&str> = HashSet::with_capacity(env.len());
        let mut own: Vec<(OsString, OsString)> = env
            .iter()
            .rev()
            .filter(|(name, _)| later.insert(name.as_str()))
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        own.reverse();
        vars.append(&mut own);
        let path = vars
            .iter()
            .find(|(name, _)| name == "PATH")
            .map_or_else(|| OsString::from(DEFAULT_PATH), |(_, value)| value.clone());
        let candidates = if program.contains('/') {
            vec![c_string("the program", program.as_bytes())?]
        } else {
            std::env::split_paths(&path)
                .map(|dir| {
                    // An empty PATH entry is the working directory, as execvp takes it.
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".").to_path_buf()
                    } else {
                        dir
                    };
                    c_string("PATH", dir.join(program).as_os_str().as_bytes())
                })
                .collect::<Result<_, _>>()?
        };
        let envp = vars
            .into_iter()
            .map(|(name, mut value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.append(&mut std::mem::take(&mut value).into_vec());
                c_string("the environment", &entry)
            })
            .collect::<Result<_, _>>()?;
        Ok(Spawn {
            candidates,
            argv: argv
                .iter()
                .map(|arg| c_string("an argument", arg.as_bytes()))
                .collect::<Result<_, _>>()?,
            envp,
            cwd: c_string("the working directory", cwd.as_os_str().as_bytes())?,
            stdio: above_stdio(stdio)?,
            new_session: false,
            new_group: false,
            die_with_parent: false,
            join: Vec::new(),
            user: None,
        })
    }

    /// The child leads a new session (and so a new process group).
    pub fn new_session(&mut self) {
        self.new_session = true;
    }

    /// The child leads a new process group in our session (for a caller that is a
    /// session leader itself, as an executor is: a kill of the group reaches whatever
    /// the child forks).
    pub fn new_process_group(&mut self) {
        self.new_group = true;
    }

    /// The kernel sends the child SIGKILL when the thread that started it ends (set
    /// after the user switch, which would clear it).
    pub fn die_with_parent(&mut self) {
        self.die_with_parent = true;
    }

    /// The child takes these supplementary groups, then `gid`, then `uid` before exec
    /// (after joining cgroups and changing directory, which may need our privilege).
    pub fn switch_user(&mut self, uid: libc::uid_t, gid: libc::gid_t, groups: &[libc::gid_t]) {
        self.user = Some(User {
            uid,
            gid,
            groups: groups.to_vec(),
        });
    }

    /// The child writes itself into each of these `cgroup.procs` files before exec,
    /// so that it and all it forks start inside the cgroups.
    pub fn join(&mut self, procs: &[std::path::PathBuf]) -> std::io::Result<()> {
        self.join = procs
            .iter()
            .map(|path| c_string("a cgroup path", path.as_os_str().as_bytes()))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Starts the child; returns once it has exec'd, or with why it could not.
    pub fn spawn(&self) -> std::io::Result<Child> {
        let null_terminated = |strings: &[CString]| -> Vec<*const c_char> {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        let sh = c"/bin/sh";
        let mut sh_argv = vec![sh.as_ptr(), std::ptr::null()];
        sh_argv.extend(self.argv.iter().skip(1).map(|arg| arg.as_ptr()));
        sh_argv.push(std::ptr::null());
        let mut args = ChildArgs {
            candidates: self.candidates.iter().map(|c| c.as_ptr()).collect(),
            argv: null_terminated(&self.argv),
            envp: null_terminated(&self.envp),
            sh_argv,
            sh: sh.as_ptr(),
            cwd: self.cwd.as_ptr(),
            fds: [
                self.stdio[0].as_raw_fd(),
                self.stdio[1].as_raw_fd(),
                self.stdio[2].as_raw_fd(),
            ],
            new_session: self.new_session,
            new_group: self.new_group,
            die_with_parent: self.die_with_parent,
            join: self.join.iter().map(|c| c.as_ptr()).collect(),
            user: self
                .user
                .as_ref()
                .map(|u| (u.uid, u.gid, u.groups.as_ptr(), u.groups.len())),
            errno: 0,
        };
        let mut stack: Vec<u8> = Vec::with_capacity(CHILD_STACK);
        // The stack grows down from its 16-byte aligned top.
        let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
        let args_ptr: *mut ChildArgs = &mut args;
        // SAFETY: sigset_t is plain data that sigfillset initialises; the masks only
        // change this thread's signal mask, restored below.
        let mut old_mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old_mask);
            // SAFETY: the child runs `child` on `stack` in our memory while this
            // thread waits (CLONE_VFORK) until it has exec'd or exited; `args`, the
            // strings it points into and the stack outlive that wait.
            let pid = libc::clone(
                child,
                top as *mut c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                args_ptr.cast(),
            );
            let clone_error = std::io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
            if pid < 0 {
                return Err(clone_error);
            }
            pid
        };
        drop(stack);
        // SAFETY: the child is done with `args` (it has exec'd or exited); a plain
        // read of the field it may have written.
        let errno = unsafe { std::ptr::read_volatile(&(*args_ptr).errno) };
        if errno != 0 {
            // It exited without exec'ing: reap it.
            let mut status = 0;
            // SAFETY: waitpid writes the status into our integer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        Ok(Child::new(pid))
    }
}

/// Moves any of the three descriptors that sit at 0, 1 or 2 (this process had closed
/// its own stdio) above them, so that the child's dup2 onto 0, 1, 2 never overwrites
/// a descriptor it has yet to use.
fn above_stdio(stdio: [OwnedFd; 3]) -> std::io::Result<[OwnedFd; 3]> {
    let lift = |fd: OwnedFd| -> std::io::Result<OwnedFd> {
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we then own.
        let lifted = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
        if lifted < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: just returned by the kernel, owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(lifted) })
    };
    let [stdin, stdout, stderr] = stdio;
    Ok([lift(stdin)?, lift(stdout)?, lift(stderr)?])
}

/// The child, between clone and exec, on the parent's memory: system calls only.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the ChildArgs the parent passed, alive while the parent waits;
    // every pointer in it is a NUL-terminated string or a NULL-terminated array of
    // them, owned by the parent's Spawn. Only the calls below run, each a system
    // call wrapper that allocates nothing and takes no lock.
    unsafe {
        let args = &mut *arg.cast::<ChildArgs>();
        let fail = |args: &mut ChildArgs| -> ! {
            let errno = *libc::__errno_location();
            std::ptr::write_volatile(
                &mut args.errno,
                if errno == 0 { libc::EINVAL } else { errno },
            );
            libc::_exit(127)
        };
        // The agent's handlers must not run here (they would on the agent's memory,
        // from the wrong process); exec would reset them anyway. SIGPIPE goes back to
        // its default, which the Rust runtime had set to ignore (as std's spawn does).
        for signal in 1..NSIG {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let handled = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
            if handled || signal == libc::SIGPIPE {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
            fail(args);
        }
        if args.new_session && libc::setsid() < 0 {
            fail(args);
        }
        if args.new_group && libc::setpgid(0, 0) != 0 {
            fail(args);
        }
        for &path in &args.join {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                fail(args);
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            if written != 1 {
                fail(args);
            }
            libc::close(fd);
        }
        for (target, &fd) in args.fds.iter().enumerate() {
            // Each source is 3 or above (above_stdio): dup2 onto 0..2 clears
            // close-on-exec on the copy.
            if libc::dup2(fd, target as c_int) < 0 {
                fail(args);
            }
        }
        if libc::chdir(args.cwd) != 0 {
            fail(args);
        }
        // The raw system calls: the C library's wrappers would have every thread of
        // the process change identity, and this process's memory (its idea of its
        // threads included) is the caller's. The child is one thread of its own.
        if let Some((uid, gid, groups, count)) = args.user
            && (libc::syscall(libc::SYS_setgroups, count, groups) != 0
                || libc::syscall(libc::SYS_setgid, gid) != 0
                || libc::syscall(libc::SYS_setuid, uid) != 0)
        {
            fail(args);
        }
        // After the identity change, which clears the death signal.
        if args.die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            fail(args);
        }
        // execvp's search: a candidate that is missing is passed over; one that may
        // not be run is remembered in case nothing else runs either.
        let mut denied = false;
        for &candidate in &args.candidates {
            libc::execve(candidate, args.argv.as_ptr(), args.envp.as_ptr());
            match *libc::__errno_location() {
                libc::ENOEXEC => {
                    // Slot 1 exists: sh_argv is `sh`, the program, the rest, NULL.
                    *args.sh_argv.as_mut_ptr().add(1) = candidate;
                    libc::execve(args.sh, args.sh_argv.as_ptr(), args.envp.as_ptr());
                    fail(args);
                }
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => fail(args),
            }
        }
        if denied {
            *libc::__errno_location() = libc::EACCES;
        }
        fail(args)
    }
}

/// A child started by [`Spawn::spawn`]: its pid, and a pidfd to await its exit on.
/// Dropped while it runs, it is reaped in the background (not killed).
#[derive(Debug)]
pub struct Child {
    pid: i32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
    /// Whether a drop while it runs hands it to a reaping task (not for that task's
    /// own copy, see `Drop`).
    reap_on_drop: bool,
}

impl Child {
    fn new(pid: i32) -> Child {
        // Our own child, not reaped yet: its pid cannot name anything else.
        let pidfd = match super::watch::pidfd_open(pid) {
            // SAFETY: an OwnedFd is a valid open descriptor that stays open, the same
            // one, for as long as the AsyncFd owns it.
            Ok(fd) => unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok(),
            Err(error) => {
                tracing::debug!(pid, %error, "no pidfd; polling the child");
                None
            }
        };
        Child {
            pid,
            pidfd,
            status: None,
            reap_on_drop: true,
        }
    }

    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Its exit status, once it has exited (reaped then). Cancel safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => {
                    let mut ready = pidfd.readable().await?;
                    // Readable means exited; should the reap still find it running,
                    // wait for readiness afresh.
                    if let Some(status) = reap(self.pid)? {
                        self.status = Some(status);
                        return Ok(status);
                    }
                    ready.clear_ready();
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = reap(self.pid)?;
        }
        Ok(self.status)
    }

    /// Resolves once the child has exited, without reaping it: until [`Child::wait`]
    /// does, its pid stays taken (a zombie), so no new process can have it as its
    /// process group or session id. Cancel safe.
    pub async fn exited(&mut self) -> std::io::Result<()> {
        loop {
            if self.status.is_some() || exited_unreaped(self.pid)? {
                return Ok(());
            }
            match &self.pidfd {
                Some(pidfd) => {
                    let mut ready = pidfd.readable().await?;
                    if exited_unreaped(self.pid)? {
                        return Ok(());
                    }
                    ready.clear_ready();
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }
}

/// Whether child `pid` has exited, leaving it to be reaped.
fn exited_unreaped(pid: i32) -> std::io::Result<bool> {
    let id =
        libc::id_t::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ECHILD))?;
    // SAFETY: an all-zero siginfo_t is a valid value (si_pid 0: nothing waitable).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: waitid writes into our siginfo_t and nothing else.
    if unsafe { libc::waitid(libc::P_PID, id, &mut info, options) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: si_pid is set by waitid for a waitable child and left 0 otherwise.
    Ok(unsafe { info.si_pid() } != 0)
}

/// The exit status of child `pid` if it has exited (reaping it), `None` if it runs.
fn reap(pid: i32) -> std::io::Result<Option<ExitStatus>> {
    let mut raw = 0;
    // SAFETY: waitpid writes the status into our integer.
    match unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG) } {
        0 => Ok(None),
        reaped if reaped == pid => Ok(Some(ExitStatus::from_raw(raw))),
        _ => Err(std::io::Error::last_os_error()),
    }
}

impl Drop for Child {
    /// A child dropped while it runs (a surviving executor when the agent stops) is
    /// reaped in the background once it ends, where a runtime is there to do it.
    fn drop(&mut self) {
        if !self.reap_on_drop || !matches!(self.try_wait(), Ok(None)) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The reaper's copy is not handed on again when dropped: a runtime that is
        // shutting down drops what is spawned on it at once, inside this spawn, and
        // each copy would spawn the next, without end.
        let mut orphan = Child {
            pid: self.pid,
            pidfd: self.pidfd.take(),
            status: None,
            reap_on_drop: false,
        };
        runtime.spawn(async move {
            let _ = orphan.wait().await;
        });
    }
}
