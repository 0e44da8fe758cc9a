//! `cargo xtask bench [--quick] [--build] [--only PARTS] [--out FILE]`: builds the reference
//! server and the benchmark binary in release mode, makes sure `wrk` is there (installing the
//! Debian package when running as root, else saying how), and runs `roma-bench run`, which
//! prints the results table and writes it into `BENCHMARKS.md` (a `--quick` smoke run writes
//! `target/bench/quick.md` instead, so it never replaces the committed figures).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--build] [--only server,client,status,memory,roundtrip,load,scale,build] [--rounds N] [--wrk-secs N] [--out FILE]";

/// Runs `cargo xtask bench ARGS`.
pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let mut pass = Vec::new();
    let mut out = None;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {
                quick = true;
                pass.push(arg.clone());
            }
            "--build" => pass.push(arg.clone()),
            "--only" | "--rounds" | "--wrk-secs" => match it.next() {
                Some(value) => pass.extend([arg.clone(), value.clone()]),
                None => return usage(),
            },
            "--out" => match it.next() {
                Some(value) => out = Some(PathBuf::from(value)),
                None => return usage(),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let out = out.unwrap_or_else(|| {
        if quick {
            root.join("target").join("bench").join("quick.md")
        } else {
            root.join("BENCHMARKS.md")
        }
    });

    ensure_wrk();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    for (package, bin) in [
        ("roma-assets", "roma-assets"),
        ("roma-assets-bench", "roma-bench"),
    ] {
        eprintln!("building {bin} (release)...");
        let built = Command::new(&cargo)
            .args(["build", "--release", "--package", package, "--bin", bin])
            .current_dir(root)
            .status();
        if !matches!(built, Ok(status) if status.success()) {
            eprintln!("error: building {bin} failed");
            return ExitCode::FAILURE;
        }
    }
    let release = target_dir(root).join("release");
    let status = Command::new(release.join("roma-bench"))
        .arg("run")
        .arg("--root")
        .arg(root)
        .arg("--server-bin")
        .arg(release.join("roma-assets"))
        .arg("--out")
        .arg(&out)
        .args(&pass)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: running roma-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Installs `wrk` with apt-get when it is missing and we are root; otherwise says how. Without
/// it the benchmark still runs, skipping the parts that need it.
fn ensure_wrk() {
    if on_path("wrk") {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !on_path("apt-get") {
        eprintln!(
            "wrk is not installed: the server benchmarks (parts 1 and 3) will be skipped.\n\
             Install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again."
        );
        return;
    }
    eprintln!("wrk is not installed; installing the Debian package...");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").arg("update").status();
        if !install() {
            eprintln!("installing wrk failed: the server benchmarks will be skipped");
        }
    }
}
