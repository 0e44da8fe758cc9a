//! Generates the client and the server stubs from the OpenAPI documents into `OUT_DIR`.
//! Glue only: the generator is the `roma-assets-codegen` library, shared with `cargo xtask generate`.
//!
//! `openapi/roma-assets.yaml` becomes `OUT_DIR/{client,server}.rs`, included by the library;
//! the tests' fixture document becomes `OUT_DIR/fixture/{client,server}.rs`, included by a test.

use std::{env, fs, path::Path};

const SPECS: [(&str, &str); 2] = [
    ("openapi/roma-assets.yaml", ""),
    ("tests/fixtures/bookshelf.yaml", "fixture"),
];

fn main() {
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
        fs::write(dir.join("client.rs"), generated.client).expect("writing client.rs");
        fs::write(dir.join("server.rs"), generated.server).expect("writing server.rs");
    }
}
