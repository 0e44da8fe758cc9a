//! What `cargo xtask generate` writes: the generated code's snapshots and the package manifest's
//! JSON Schema. A library so that the list is defined once.

use std::path::{Path, PathBuf};

/// The list of documents (`path name subdirectory` lines), shared with `build.rs` and
/// `tests/generated.rs`.
pub const DOCUMENTS: &str = "openapi/documents.txt";

/// The documents of [`DOCUMENTS`] under `root`: (path, snapshot name) of each.
pub fn documents(root: &Path) -> Result<Vec<(String, String)>, String> {
    let list = std::fs::read_to_string(root.join(DOCUMENTS))
        .map_err(|e| format!("reading {DOCUMENTS}: {e}"))?;
    list.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [path, name, _subdir] => Ok((path.to_string(), name.to_string())),
                _ => Err(format!(
                    "{DOCUMENTS}: `{line}` is not `path name subdirectory`"
                )),
            },
        )
        .collect()
}

/// The insta test file whose snapshots the xtask writes (insta names files `<test file>__<name>.snap`).
const SNAPSHOT_TEST: &str = "generated";

/// One generated file: where it goes (relative to the workspace root) and what it holds.
pub struct Artifact {
    /// Path relative to the workspace root.
    pub path: PathBuf,
    /// Exact contents.
    pub contents: String,
}

/// Every generated file, from the documents under `root`.
pub fn artifacts(root: &Path) -> Result<Vec<Artifact>, String> {
    let mut out = Vec::new();
    for (spec_path, stem) in documents(root)? {
        let text = std::fs::read_to_string(root.join(&spec_path))
            .map_err(|e| format!("reading {spec_path}: {e}"))?;
        let spec: openapiv3::OpenAPI =
            yaml_serde::from_str(&text).map_err(|e| format!("parsing {spec_path}: {e}"))?;
        let generated = roma_assets_codegen::generate(&spec)
            .map_err(|e| format!("generating from {spec_path}: {e}"))?;
        for (part, code) in [
            ("contract", generated.contract),
            ("client", generated.client),
            ("server", generated.server),
        ] {
            let name = format!("{stem}_{part}");
            out.push(Artifact {
                path: PathBuf::from(format!("tests/snapshots/{SNAPSHOT_TEST}__{name}.snap")),
                contents: insta_snapshot(&name, &code),
            });
        }
    }
    Ok(out)
}

/// The package manifest's JSON Schema, derived with schemars from the Rust types the server reads
/// packages into (import validates against those very types): `roma-assets package schema`, run
/// as its own build, so the snapshots above are written even when the service does not compile.
pub fn manifest_schema(root: &Path) -> Result<Artifact, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--bin",
            "roma-assets",
            "--",
            "package",
            "schema",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running `roma-assets package schema`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`roma-assets package schema` failed ({})",
            output.status
        ));
    }
    let contents = String::from_utf8(output.stdout)
        .map_err(|_| "`roma-assets package schema` printed non-UTF-8".to_string())?;
    Ok(Artifact {
        path: PathBuf::from("openapi/manifest.schema.json"),
        contents,
    })
}

/// The file insta writes for `insta::assert_snapshot!(name, code)` in `tests/generated.rs`.
pub fn insta_snapshot(name: &str, code: &str) -> String {
    let _ = name;
    format!(
        "---\nsource: tests/{SNAPSHOT_TEST}.rs\nexpression: code\n---\n{}\n",
        code.trim_end()
    )
}
