//! The generated code, pinned: one insta snapshot per document × (contract, client, server), the same
//! files `cargo xtask generate` writes. A spec or generator change shows up as a snapshot diff
//! in the same commit; in CI (`CI=true`) a missing or changed snapshot fails.

use std::path::Path;

fn generate(spec_path: &str) -> roma_assets_codegen::Generated {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(spec_path)).expect("reading the document");
    let spec: openapiv3::OpenAPI = yaml_serde::from_str(&text).expect("parsing the document");
    roma_assets_codegen::generate(&spec).expect("generating")
}

#[test]
fn roma_assets_generated_code_matches_the_snapshots() {
    let generated = generate("openapi/roma-assets.yaml");
    let code = generated.contract;
    insta::assert_snapshot!("roma_assets_contract", code);
    let code = generated.client;
    insta::assert_snapshot!("roma_assets_client", code);
    let code = generated.server;
    insta::assert_snapshot!("roma_assets_server", code);
}

#[test]
fn fixture_generated_code_matches_the_snapshots() {
    let generated = generate("tests/fixtures/bookshelf.yaml");
    let code = generated.contract;
    insta::assert_snapshot!("fixture_contract", code);
    let code = generated.client;
    insta::assert_snapshot!("fixture_client", code);
    let code = generated.server;
    insta::assert_snapshot!("fixture_server", code);
}

#[test]
fn generation_is_deterministic() {
    for spec in ["openapi/roma-assets.yaml", "tests/fixtures/bookshelf.yaml"] {
        assert_eq!(
            generate(spec),
            generate(spec),
            "{spec} generated two different outputs"
        );
    }
}
