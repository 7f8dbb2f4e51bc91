//! Which threads yield the cores: parsing yields to the store's writer and to serving.
//!
//! On two cores, the two threads parsing feeds keep both busy, and the one writer (the
//! recorder and SQLite's thread, handing each statement back and forth) then waits for a core
//! at every hand-over, while the fetches it holds back leave the parsers without work: a
//! fifth of a first ingest's cores stood idle. Parsing at a lower priority lets the writer (and
//! the requests the server answers) take a core the moment they wake, and the parsers have
//! every cycle they leave. Linux only: there a thread has a priority of its own.

/// How far below the other threads a parsing thread runs (added to the process's nice value):
/// enough that a waking thread of normal priority takes its core at once, not so far that
/// parsing starves when the machine is busy with something else.
#[cfg(target_os = "linux")]
const PARSING: libc::c_int = 10;

/// Lowers the calling thread's priority to that of parsing, once per thread. The blocking
/// threads that parse feeds are the runtime's, so one that later runs other blocking work
/// (a file read, a name lookup) does it at this priority too: only feeds are parsed there in
/// bulk, so nothing waits long behind them.
pub(crate) fn parsing() {
    #[cfg(target_os = "linux")]
    {
        use std::cell::Cell;
        thread_local!(static LOWERED: Cell<bool> = const { Cell::new(false) });
        if !LOWERED.replace(true) {
            // SAFETY: nice has no memory effects. On Linux the nice value is the calling
            // thread's alone (see nice(2) and setpriority(2)); lowering the priority needs no
            // rights, and past the lowest it stays at the lowest, so the result is not needed.
            unsafe { libc::nice(PARSING) };
        }
    }
}
