//! Giving memory back after a burst. glibc's malloc keeps what a burst freed in its arenas (one
//! per thread that met contention), so without this the server's resident size stays near its
//! peak long after the load is gone (BENCHMARKS.md, load test). Once the process has used almost
//! no CPU for a tick after being busy, `malloc_trim(0)` hands the free pages of every arena back
//! to the system: once per quiet spell, never on the request path.
//!
//! Linux with glibc only; on other targets [`spawn`] does nothing.

use std::time::Duration;

/// How often the process's CPU time is looked at.
const TICK: Duration = Duration::from_secs(2);
/// CPU time within one tick below which the process counts as idle (1% of a core).
const IDLE_CPU: Duration = Duration::from_millis(20);

/// Starts the background task on the current tokio runtime.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn spawn() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = cpu_time();
        let mut busy = false;
        loop {
            tick.tick().await;
            let now = cpu_time();
            let used = now.saturating_sub(last);
            last = now;
            if used > IDLE_CPU {
                busy = true;
            } else if busy {
                busy = false;
                // SAFETY: malloc_trim only walks glibc's own heaps under their locks; it may be
                // called from any thread at any time.
                let trimmed = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
                tracing::debug!(
                    released = matches!(trimmed, Ok(1)),
                    "idle: free heap memory returned to the system"
                );
            }
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn spawn() {}

/// CPU time used so far by the whole process.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_PROCESS_CPUTIME_ID is always supported
    // on Linux. On failure `ts` stays zero, which only delays a trim.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}
