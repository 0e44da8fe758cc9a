//! Generates the client and the server stubs from the OpenAPI documents into `OUT_DIR`.
//! Glue only: the generator is the `roma-assets-codegen` library, shared with `cargo xtask generate`.
//!
//! Each document of `openapi/documents.txt` becomes `{contract,client,server}.rs` in its
//! subdirectory of `OUT_DIR`: `openapi/roma-assets.yaml` at the top (included by the library),
//! the tests' fixture documents in `OUT_DIR/fixture/` and `OUT_DIR/plain/` (included by tests).

use std::{env, fs, path::Path};

/// The list of documents: `path name subdirectory` lines, `#` comments.
const DOCUMENTS: &str = "openapi/documents.txt";

fn main() {
    seeds_cfg();
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed={DOCUMENTS}");
    let list = fs::read_to_string(DOCUMENTS).unwrap_or_else(|e| panic!("reading {DOCUMENTS}: {e}"));
    for line in list
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [spec_path, _name, subdir] = fields[..] else {
            panic!("{DOCUMENTS}: `{line}` is not `path name subdirectory`");
        };
        println!("cargo:rerun-if-changed={spec_path}");
        let text =
            fs::read_to_string(spec_path).unwrap_or_else(|e| panic!("reading {spec_path}: {e}"));
        let spec: openapiv3::OpenAPI =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("parsing {spec_path}: {e}"));
        let generated = roma_assets_codegen::generate(&spec)
            .unwrap_or_else(|e| panic!("generating from {spec_path}: {e}"));
        let dir = Path::new(&out).join(subdir);
        fs::create_dir_all(&dir).expect("creating the output directory");
        fs::write(dir.join("contract.rs"), generated.contract).expect("writing contract.rs");
        fs::write(dir.join("client.rs"), generated.client).expect("writing client.rs");
        fs::write(dir.join("server.rs"), generated.server).expect("writing server.rs");
    }
}

/// `cfg(seeds_present)` when the seed pages are beside the checkout (or at `ROMA_SEEDS_DIR`), so
/// that the test reading them is marked ignored, with its reason, where they are not. Watched
/// only when present: cargo would rerun this script on every build for a path that is missing.
fn seeds_cfg() {
    println!("cargo::rustc-check-cfg=cfg(seeds_present)");
    println!("cargo:rerun-if-env-changed=ROMA_SEEDS_DIR");
    let dir = env::var("ROMA_SEEDS_DIR").unwrap_or_else(|_| "../shared/seeds".to_string());
    if Path::new(&dir).is_dir() {
        println!("cargo:rerun-if-changed={dir}");
        println!("cargo:rustc-cfg=seeds_present");
    }
}
