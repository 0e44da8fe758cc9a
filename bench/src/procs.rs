//! Servers in their own processes, started and stopped by the benchmark: our stub servers
//! (`roma-bench serve-*`) and the reference server (`roma-assets serve`, release build).
//!
//! Everything started here stops by itself: a stub server exits when its stdin closes (that is,
//! when this process ends, however it ends) or after its `--max-secs`; the reference server runs
//! under coreutils `timeout`. [`Server`]'s `Drop` stops the process it started, by its id, and
//! nothing else. Memory figures come from `/proc/PID/status`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to say where it listens.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A server process this program started.
pub struct Server {
    child: Child,
    /// The id of the serving process itself (for `/proc`): the child, or the child of `timeout`.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    wrapped: bool,
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, KiB: resident now.
    pub rss_kib: u64,
    /// `VmHWM`, KiB: the peak resident size so far.
    pub hwm_kib: u64,
    /// `Threads`: how many threads the process has.
    pub threads: u64,
}

impl Server {
    /// Starts `exe args...`, which prints `listening http://ADDR` on stdout once it serves.
    /// Its stderr goes to `log`.
    pub fn spawn_stub(exe: &Path, args: &[String], log: &Path) -> Result<Server, String> {
        let mut command = Command::new(exe);
        command.args(args);
        let (child, base) = start(command, log, |line| {
            line.strip_prefix("listening ").map(str::to_string)
        })?;
        Ok(Server {
            pid: child.id(),
            child,
            base,
            wrapped: false,
        })
    }

    /// Starts the reference server `bin serve --listen 127.0.0.1:0 args...` under
    /// `timeout lifetime`, its logs (stderr) going to `log`.
    pub fn spawn_reference(
        bin: &Path,
        args: &[String],
        log: &Path,
        lifetime: Duration,
    ) -> Result<Server, String> {
        Self::spawn_reference_with_env(bin, args, &[], log, lifetime)
    }

    /// [`Server::spawn_reference`] with extra environment variables.
    pub fn spawn_reference_with_env(
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
        lifetime: Duration,
    ) -> Result<Server, String> {
        let mut command = Command::new("timeout");
        command
            .envs(env.iter().copied())
            .arg(format!("{}s", lifetime.as_secs().max(1)))
            .arg(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        let (child, base) = start(command, log, |line| {
            line.trim_start()
                .strip_prefix("base URL:")
                .map(|rest| rest.trim().to_string())
        })?;
        let mut server = Server {
            pid: child.id(),
            child,
            base,
            wrapped: true,
        };
        server.pid = only_child(server.child.id())?;
        Ok(server)
    }

    /// The serving process's memory now.
    pub fn memory(&self) -> Result<Memory, String> {
        memory_of(self.pid)
    }

    /// Stops the server (SIGTERM, so the reference server shuts down gracefully and its database
    /// is closed), waiting up to `grace` before killing it.
    pub fn stop(mut self, grace: Duration) {
        self.terminate(grace);
    }

    fn terminate(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // A stub ends when its stdin closes; `timeout` passes SIGTERM on to the server.
        drop(self.child.stdin.take());
        if self.wrapped {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.wrapped {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(15));
    }
}

/// Spawns `command` (stdin piped, stdout read in a thread, stderr to `log`) and waits for the
/// stdout line `find` recognises.
fn start(
    mut command: Command,
    log: &Path,
    find: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Result<(Child, String), String> {
    let log_file =
        std::fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("starting {command:?}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    // Reads every line until the process ends, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(found) = find(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(found);
            }
        }
    });
    match rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(base) => Ok((child, base)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            Err(format!(
                "{command:?} did not say where it listens; its log:\n{}",
                tail.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            ))
        }
    }
}

/// The one child of process `pid` (the server `timeout` started).
fn only_child(pid: u32) -> Result<u32, String> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("process {pid} has no child"))
}

/// `VmRSS` and `VmHWM` of process `pid`.
pub fn memory_of(pid: u32) -> Result<Memory, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    parse_status(&text).ok_or_else(|| format!("no VmRSS/VmHWM in {path}"))
}

fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        threads: field("Threads:").unwrap_or(0),
    })
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_memory_lines_are_read() {
        let text = "Name:\troma-assets\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t5\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 10240,
                hwm_kib: 20480,
                threads: 5
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_memory_reading() {
        let m = memory_of(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
