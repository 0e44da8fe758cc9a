//! `cargo xtask fuzz [--minutes N] [--only T,...]`: runs each fuzz target (a proptest file), or
//! those named, for N minutes (1 by default), in rounds of [`CASES_PER_ROUND`] fresh random cases per property, optimised unless
//! `--dev` (which reuses the test build: CI's choice, as an optimised build costs minutes). Every
//! round draws a new seed; a failure stops the run, prints proptest's minimal input, and leaves
//! it in the target's `.proptest-regressions` file, which `cargo test` then replays first. Prints,
//! per target, the rounds run and the cases each property executed.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Cases per property and round: a round of the slowest target takes a few seconds.
const CASES_PER_ROUND: u64 = 2_000;

/// A fuzz target: the package holding it and its test file's name.
struct Target {
    what: &'static str,
    package: &'static str,
    test: &'static str,
    /// Features the test needs (`required-features`), or "".
    features: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        what: "Authorization parser and signature",
        package: "roma-assets-runtime",
        test: "fuzz_signature",
        features: "",
    },
    Target {
        what: "JSON shape checker",
        package: "roma-assets-runtime",
        test: "fuzz_json",
        features: "server",
    },
    Target {
        what: "package reader",
        package: "roma-assets",
        test: "fuzz_package",
        features: "",
    },
    Target {
        what: "request layer (in-process server)",
        package: "roma-assets",
        test: "fuzz_requests",
        features: "",
    },
];

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let usage = || {
        eprintln!(
            "usage: cargo xtask fuzz [--minutes N] [--dev] [--only TARGET,...]  (N minutes per \
             target, default 1; --dev reuses the test build instead of an optimised one, as CI \
             does; targets: fuzz_signature, fuzz_json, fuzz_package, fuzz_requests)"
        );
        ExitCode::from(2)
    };
    let (mut minutes, mut release) = (1.0_f64, true);
    let mut only: Option<Vec<String>> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dev" => release = false,
            "--only" => match args.next() {
                Some(list) => only = Some(list.split(',').map(str::to_string).collect()),
                None => return usage(),
            },
            "--minutes" => match args.next().map(|n| n.parse::<f64>()) {
                Some(Ok(n)) if n > 0.0 => minutes = n,
                _ => {
                    eprintln!("error: --minutes takes a positive number");
                    return usage();
                }
            },
            _ => return usage(),
        }
    }
    let budget = Duration::from_secs_f64(minutes * 60.0);
    let mut summary = Vec::new();
    if let Some(only) = &only
        && let Some(unknown) = only.iter().find(|n| !TARGETS.iter().any(|t| t.test == *n))
    {
        eprintln!("error: no fuzz target {unknown}");
        return usage();
    }
    let chosen = TARGETS
        .iter()
        .filter(|t| only.as_ref().is_none_or(|o| o.iter().any(|n| n == t.test)));
    for target in chosen {
        // Built first, off the clock: the minutes are minutes of fuzzing, not of compiling.
        let built = Command::new(env!("CARGO"))
            .current_dir(root)
            .args([
                "test",
                "-q",
                "--no-run",
                "-p",
                target.package,
                "--test",
                target.test,
            ])
            .args(["--features", target.features])
            .args(release.then_some("--release"))
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("error: building fuzz target {}", target.test);
            return ExitCode::FAILURE;
        }
        let started = Instant::now();
        let mut rounds = 0u64;
        while rounds == 0 || started.elapsed() < budget {
            let output = Command::new(env!("CARGO"))
                .current_dir(root)
                .args(["test", "-q", "-p", target.package, "--test", target.test])
                .args(["--features", target.features])
                .args(release.then_some("--release"))
                .env("PROPTEST_CASES", CASES_PER_ROUND.to_string())
                .output();
            let output = match output {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: running cargo test: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if !output.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&output.stdout));
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
                eprintln!(
                    "fuzz target {} ({}) failed in round {}: the minimal input above is kept in \
                     its .proptest-regressions file",
                    target.test,
                    target.what,
                    rounds + 1
                );
                return ExitCode::FAILURE;
            }
            rounds += 1;
        }
        let line = format!(
            "{:<16} {:<36} {:>6.1} min  {:>5} rounds  {:>9} cases per property",
            target.test,
            target.what,
            started.elapsed().as_secs_f64() / 60.0,
            rounds,
            rounds * CASES_PER_ROUND
        );
        println!("{line}");
        summary.push(line);
    }
    println!("\nno failure in {} targets", summary.len());
    ExitCode::SUCCESS
}
