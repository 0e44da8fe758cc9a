//! What the numbers were measured on: cores, memory, CPU model, the code's commit, and how busy
//! the machine was with other work (shared machines make every absolute figure noisy; the ratios
//! are measured in the same round for that reason).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Busy and total jiffies of all CPUs, from the first line of `/proc/stat`.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

/// How busy the CPUs are over `window` while this program waits: other people's work.
pub fn busy_share(window: Duration) -> Option<f64> {
    let (b0, t0) = cpu_jiffies()?;
    std::thread::sleep(window);
    let (b1, t1) = cpu_jiffies()?;
    (t1 > t0).then(|| (b1 - b0) as f64 / (t1 - t0) as f64)
}

fn run(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// The 1/5/15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Other processes using CPU now (by their average since start), without this benchmark's own.
pub fn busy_processes() -> Vec<String> {
    let Some(out) = run(
        "ps",
        &["-eo", "pcpu=,rss=,comm=", "--sort=-pcpu"],
        Path::new("/"),
    ) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let pcpu: f64 = it.next()?.parse().ok()?;
            let rss: u64 = it.next()?.parse().ok()?;
            let comm = it.collect::<Vec<_>>().join(" ");
            let ours = ["roma-bench", "roma-assets", "wrk", "ps", "timeout"];
            (pcpu >= 2.0 && !ours.contains(&comm.as_str()))
                .then(|| format!("{comm} ({pcpu:.0}% CPU, {} MiB)", rss / 1024))
        })
        .take(8)
        .collect()
}

/// The machine and the code, as Markdown.
pub fn describe(root: &Path) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let free = run("free", &["-h"], root).unwrap_or_default();
    let commit = run("git", &["rev-parse", "--short", "HEAD"], root).unwrap_or_default();
    let dirty = run("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty());
    let rustc = run("rustc", &["--version"], root).unwrap_or_default();
    let busy = busy_share(Duration::from_secs(2))
        .map_or_else(|| "unknown".to_string(), |b| format!("{:.0}%", b * 100.0));
    let others = busy_processes();
    format!(
        "Measured {} on commit `{commit}`{} with {rustc}.\n\n\
         - `nproc`: {cores}; CPU: {cpu}\n\
         - load average at start: {}; CPU busy with other work in a 2 s sample before the run: {busy}\n\
         - other processes using CPU at start: {}\n\n\
         ```text\n$ free -h\n{free}\n```\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if dirty {
            " plus uncommitted changes"
        } else {
            ""
        },
        load_average(),
        if others.is_empty() {
            "none above 2% CPU".to_string()
        } else {
            others.join(", ")
        },
    )
}
