//! The process's heap, on glibc (Linux's usual C library; elsewhere these do nothing), and
//! its peak as each phase of a command ends (`phase`).
//!
//! glibc's allocator gives each thread that allocates an arena of its own, up to eight per
//! core, and hands memory freed inside an arena back to the system only when asked. Work that
//! comes in bursts from many threads (feeds parsed on the blocking threads, results written by
//! the recorder, SQLite's threads) then leaves the process holding the peak of every arena: a
//! first ingest of 2,000 feeds peaked at 82 MiB with live data well under half that. Two
//! arenas, and giving back what a burst freed once it is over, keep it near what is live.
//! Blocks of 64 KiB and more (feed bodies, parse buffers, the story index's blocks) are mapped
//! apart, so that each goes back to the system when freed: glibc would otherwise raise that
//! threshold as such blocks are freed and keep them in the heap, where what is live around
//! them pins them (5-7 MiB of that same ingest's peak, for 3-5% more CPU time).

/// Blocks at least this large are mapped apart, and free memory at the heap's top beyond it is
/// given back at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAPPED_FROM: libc::c_int = 64 * 1024;

/// Limits the allocator to two arenas (the threads share them: two cores' worth of work at a
/// time is what the daemon does; more arenas only hold more memory) and maps large blocks
/// apart. Called first thing in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's settings; called before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_FROM);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MAPPED_FROM);
    }
}

/// How often at most the free memory is given back: each time walks the heap, and what is
/// given back is faulted in again when it is next used.
const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Gives the memory that the allocator holds free back to the system, if it was not done in
/// the last [`GIVE_BACK_EVERY`]: called after a burst of work (a group of results written).
pub(crate) fn give_back() {
    use std::sync::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|at| at.elapsed() < GIVE_BACK_EVERY) {
        return;
    }
    *last = Some(Instant::now());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallinfo2 only reads the allocator's counters, and malloc_trim only returns
    // free pages; both are thread-safe.
    unsafe {
        // Where the memory is, for a profile of a run (RUST_LOG=feedmerge::memory=debug).
        if tracing::enabled!(tracing::Level::DEBUG) {
            let heap = libc::mallinfo2();
            tracing::debug!(
                in_use_kib = heap.uordblks >> 10,
                free_kib = heap.fordblks >> 10,
                mapped_kib = heap.hblkhd >> 10,
                "heap before giving back"
            );
        }
        libc::malloc_trim(0);
    }
}

/// Logs at debug level that a phase of a command ended: how long it took, and the process's
/// peak memory so far (where the system says). `RUST_LOG=feedmerge=debug feedmerge fetch`
/// shows where a poll of every source spends its time and memory (see BENCHMARKS.md).
pub(crate) fn phase(name: &'static str, started: std::time::Instant) {
    tracing::debug!(
        phase = name,
        ms = started.elapsed().as_millis() as u64,
        peak_rss_mib = peak_rss_mib(),
        "phase done"
    );
}

/// The process's peak resident memory so far, in MiB (Linux's `VmHWM`).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = kib.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib / 1024)
}
