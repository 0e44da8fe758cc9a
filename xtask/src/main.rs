//! `cargo xtask generate [--check]`: runs the code generator on every OpenAPI document and writes
//! what it produces where people review it: the insta snapshots under `tests/snapshots/` (the one
//! committed view of generated code; `tests/generated.rs` asserts the same files) and
//! `openapi/manifest.schema.json` (`roma-assets package schema`, run as a separate build: the
//! xtask depends on the generator only, so a document change that breaks the service still
//! shows its generated diff).
//!
//! With `--check` nothing is written: it exits 1 naming each stale file and the command to run.
//!
//! `cargo xtask bench [--quick] [--build] ...`: the benchmarks and the load test (see
//! `bench.rs` and the `bench/` crate); results go to `BENCHMARKS.md`.
//!
//! `cargo xtask corpus`: prints the outcome table of the public documents under `tests/corpus/`
//! (progenitor alone against ours, client and server) and its totals: the table
//! `codegen/tests/corpus.rs` pins, built by the same code. Exits 1 if `generate` panicked on one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xtask::{Artifact, artifacts};

mod bench;
#[path = "../../codegen/tests/support/corpus.rs"]
mod corpus;
mod fuzz;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        return bench::run(&project_root(), &args[1..]);
    }
    if args.first().map(String::as_str) == Some("fuzz") {
        return fuzz::run(&project_root(), &args[1..]);
    }
    if args == ["corpus"] {
        return print_corpus(&project_root());
    }
    let check = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate"] => false,
        ["generate", "--check"] => true,
        _ => {
            eprintln!(
                "usage: cargo xtask generate [--check] | cargo xtask bench [--quick] [--build] | cargo xtask corpus | cargo xtask fuzz [--minutes N]"
            );
            return ExitCode::from(2);
        }
    };
    let root = project_root();
    let mut artifacts = match artifacts(&root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Built and run on its own: if the service does not compile, the snapshots are still
    // written (they show what the document change did) and this step alone fails.
    let schema_failure = match xtask::manifest_schema(&root) {
        Ok(schema) => {
            artifacts.push(schema);
            None
        }
        Err(e) => Some(e),
    };
    let mut stale = 0;
    for Artifact { path, contents } in artifacts {
        let full = root.join(&path);
        let current = std::fs::read_to_string(&full).ok();
        if current.as_deref() == Some(contents.as_str()) {
            continue;
        }
        if check {
            eprintln!(
                "stale: {} (run `cargo xtask generate` and commit the result)",
                path.display()
            );
            stale += 1;
        } else {
            if let Some(dir) = full.parent()
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                eprintln!("error: creating {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            if let Err(e) = std::fs::write(&full, contents) {
                eprintln!("error: writing {}: {e}", full.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", path.display());
        }
    }
    if let Some(e) = schema_failure {
        eprintln!("error: openapi/manifest.schema.json: {e}");
        return ExitCode::FAILURE;
    }
    if stale > 0 {
        eprintln!("{stale} generated file(s) out of date");
        return ExitCode::FAILURE;
    }
    if check {
        println!("generated files are up to date");
    }
    ExitCode::SUCCESS
}

/// `cargo xtask corpus`: the table and its totals on stdout.
fn print_corpus(root: &Path) -> ExitCode {
    let table = match corpus::Table::build(&root.join("tests/corpus")) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}\n{}", table.markdown(), table.totals());
    let panics = table.panics();
    if !panics.is_empty() {
        eprintln!("error: generate panicked on {}", panics.join(", "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
