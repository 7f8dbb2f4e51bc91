//! CPU time, for the tests that bound the *shape* of some work (linear, not quadratic): the
//! processor time the work itself used, which the load of other tests and processes on the
//! machine does not inflate, as it does wall time (a 0.8 s check measured 6 s in CI).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

fn cpu(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `command` to its end: its output, and the CPU time (user and system) that process
/// used, read from `wait4` for that child alone.
pub fn run_for_cpu(command: &mut Command) -> (Output, Duration) {
    let (output, cpu, _) = run_measured(command);
    (output, cpu)
}

/// [`run_for_cpu`], and the child's peak resident memory in MiB.
pub fn run_measured(command: &mut Command) -> (Output, Duration, u64) {
    // Files rather than pipes: nothing has to read them while the child runs.
    let stdout = tempfile::tempfile().expect("temp file");
    let stderr = tempfile::tempfile().expect("temp file");
    // Reaped below by `wait4`, which std's `wait` would not let us call with a `rusage`.
    #[allow(clippy::zombie_processes)]
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().expect("dup"))
        .stderr(stderr.try_clone().expect("dup"))
        .spawn()
        .expect("spawn");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our child, not yet waited for; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let read = |mut file: std::fs::File| {
        use std::io::{Read, Seek};
        let mut bytes = Vec::new();
        file.rewind().expect("rewind");
        file.read_to_end(&mut bytes).expect("read");
        bytes
    };
    let output = Output {
        status: ExitStatus::from_raw(status),
        stdout: read(stdout),
        stderr: read(stderr),
    };
    // `ru_maxrss` is in KiB on Linux.
    (output, cpu(&usage), usage.ru_maxrss as u64 / 1024)
}

/// Runs `work` on this thread: what it returns, and the CPU time this thread spent on it.
pub fn on_this_thread<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let now = || {
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a local; RUSAGE_THREAD is Linux's, as CI is.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        cpu(&usage)
    };
    let before = now();
    let result = work();
    (result, now().saturating_sub(before))
}
