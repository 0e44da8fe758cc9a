//! The layout's cheap rules (ARCHITECTURE.md, "Dependency rules"), checked on the code as it is:
//! who may depend on whom, read from `cargo tree`, and the file header every hand-written Rust
//! file carries. A rule broken here is a design change: change ARCHITECTURE.md first.

use std::path::Path;
use std::process::Command;

/// The packages `cargo tree` lists for `args` (normal and build dependencies, no dev ones).
fn tree(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .args(args)
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn assert_none_of(what: &str, packages: &[String], forbidden: &[&str]) {
    let found: Vec<&str> = forbidden
        .iter()
        .copied()
        .filter(|f| packages.iter().any(|p| p == f))
        .collect();
    assert!(found.is_empty(), "{what} depends on {found:?}");
}

/// The server-side and command-line crates no caller of the API should link.
const EMULATOR_ONLY: &[&str] = &[
    "rusqlite",
    "libsqlite3-sys",
    "postgres",
    "tokio-postgres",
    "object_store",
    "zip",
    "axum",
    "multer",
    "clap",
    "clap_complete",
    "indicatif",
    "tracing-subscriber",
];

#[test]
fn the_client_feature_alone_builds_none_of_the_emulator() {
    let packages = tree(&[
        "--package",
        "roma-assets",
        "--no-default-features",
        "--features",
        "client,native-tls",
    ]);
    assert!(packages.iter().any(|p| p == "reqwest"), "{packages:?}");
    assert_none_of("roma-assets with `client`", &packages, EMULATOR_ONLY);
}

#[test]
fn the_contract_alone_builds_no_http_stack() {
    let packages = tree(&["--package", "roma-assets", "--no-default-features"]);
    let mut forbidden = EMULATOR_ONLY.to_vec();
    forbidden.extend(["reqwest", "hyper", "progenitor-client", "tokio"]);
    assert_none_of("roma-assets without features", &packages, &forbidden);
}

#[test]
fn the_server_feature_alone_builds_no_storage_and_no_command_line() {
    let packages = tree(&[
        "--package",
        "roma-assets",
        "--no-default-features",
        "--features",
        "server",
    ]);
    assert!(packages.iter().any(|p| p == "axum"), "{packages:?}");
    assert_none_of(
        "roma-assets with `server`",
        &packages,
        &[
            "rusqlite",
            "postgres",
            "object_store",
            "zip",
            "clap",
            "indicatif",
            "reqwest",
            "progenitor-client",
        ],
    );
}

#[test]
fn the_runtime_and_the_generator_depend_on_nothing_of_the_emulator() {
    let mut forbidden = EMULATOR_ONLY.to_vec();
    forbidden.push("roma-assets");
    let runtime = tree(&["--package", "roma-assets-runtime", "--features", "client"]);
    assert_none_of("roma-assets-runtime with `client`", &runtime, &forbidden);
    // The server half of the runtime is axum's and multer's user, nothing more.
    let runtime = tree(&["--package", "roma-assets-runtime", "--all-features"]);
    assert!(runtime.iter().any(|p| p == "axum"), "{runtime:?}");
    assert_none_of(
        "roma-assets-runtime with `server`",
        &runtime,
        &[
            "roma-assets",
            "rusqlite",
            "zip",
            "clap",
            "indicatif",
            "tracing-subscriber",
        ],
    );
    forbidden.push("roma-assets-runtime");
    let codegen = tree(&["--package", "roma-assets-codegen"]);
    assert_none_of("roma-assets-codegen", &codegen, &forbidden);
}

#[test]
fn the_xtask_depends_on_the_generator_not_on_the_service() {
    // `cargo xtask generate` must show a document change's generated diff even when that change
    // breaks the service; it runs `roma-assets package schema` as a separate build instead.
    let xtask = tree(&["--package", "xtask"]);
    assert!(
        xtask.iter().any(|p| p == "roma-assets-codegen"),
        "{xtask:?}"
    );
    assert_none_of("xtask", &xtask, &["roma-assets"]);
}

/// Every hand-written Rust file opens with a `//!` comment saying what it is for. Not the
/// generator's templates: they are emitted into the middle of generated files, where an inner
/// doc comment cannot stand.
#[test]
fn every_hand_written_rust_file_says_what_it_is_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut seen = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading a directory") {
            let path = entry.expect("a directory entry").path();
            let relative = path.strip_prefix(root).expect("under the root");
            let skipped = ["target", ".git", "tests/snapshots", "codegen/src/templates"]
                .iter()
                .any(|s| relative == Path::new(s));
            if skipped {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                seen += 1;
                let text = std::fs::read_to_string(&path).expect("reading a Rust file");
                if !text.starts_with("//!") {
                    missing.push(relative.display().to_string());
                }
            }
        }
    }
    assert!(seen > 50, "only {seen} Rust files found: wrong root?");
    assert!(missing.is_empty(), "no `//!` header: {missing:?}");
}

#[test]
fn the_embedded_service_builds_no_scale_out_backend() {
    // SQLite and a directory need neither a PostgreSQL client nor an S3 one.
    let packages = tree(&[
        "--package",
        "roma-assets",
        "--no-default-features",
        "--features",
        "service",
    ]);
    assert!(packages.iter().any(|p| p == "rusqlite"), "{packages:?}");
    assert_none_of(
        "roma-assets with `service`",
        &packages,
        &["postgres", "tokio-postgres", "object_store", "quick-xml"],
    );
}
