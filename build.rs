//! Generates the client and the server stubs from `openapi/roma-assets.yaml` into `OUT_DIR`.
//! Glue only: the generator is the `roma-assets-codegen` library, shared with `cargo xtask generate`.

use std::{env, fs, path::Path};

const SPEC: &str = "openapi/roma-assets.yaml";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let text = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("reading {SPEC}: {e}"));
    let spec: openapiv3::OpenAPI =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("parsing {SPEC}: {e}"));
    let generated =
        roma_assets_codegen::generate(&spec).unwrap_or_else(|e| panic!("generating from {SPEC}: {e}"));
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out).join("client.rs"), generated.client).expect("writing client.rs");
    fs::write(Path::new(&out).join("server.rs"), generated.server).expect("writing server.rs");
}
