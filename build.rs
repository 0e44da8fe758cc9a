//! Generates the client and the server stubs from the OpenAPI documents into `OUT_DIR`.
//! Glue only: the generator is the `roma-assets-codegen` library, shared with `cargo xtask generate`.
//!
//! `openapi/roma-assets.yaml` becomes `OUT_DIR/{contract,client,server}.rs`, included by the library;
//! the tests' fixture documents become `OUT_DIR/fixture/` and `OUT_DIR/plain/`, included by tests.

use std::{env, fs, path::Path};

const SPECS: [(&str, &str); 3] = [
    ("openapi/roma-assets.yaml", ""),
    ("tests/fixtures/bookshelf.yaml", "fixture"),
    ("tests/fixtures/plain.yaml", "plain"),
];

fn main() {
    seeds_cfg();
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (spec_path, subdir) in SPECS {
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
