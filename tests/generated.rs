//! The generated code, pinned: one insta snapshot per document of `openapi/documents.txt` ×
//! (contract, client, server), the same files `cargo xtask generate` writes. A spec or generator
//! change shows up as a snapshot diff in the same commit; in CI (`CI=true`) a missing or changed
//! snapshot fails.

use std::path::Path;

/// (path, snapshot name) of every document of `openapi/documents.txt`, read as the xtask does.
fn documents() -> Vec<(String, String)> {
    let documents = xtask::documents(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the list");
    assert!(documents.len() >= 3, "{documents:?}");
    documents
}

fn generate(spec_path: &str) -> roma_assets_codegen::Generated {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(spec_path)).expect("reading the document");
    let spec: openapiv3::OpenAPI = yaml_serde::from_str(&text).expect("parsing the document");
    roma_assets_codegen::generate(&spec).expect("generating")
}

#[test]
fn generated_code_matches_the_snapshots() {
    for (path, name) in documents() {
        let generated = generate(&path);
        for (part, code) in [
            ("contract", generated.contract),
            ("client", generated.client),
            ("server", generated.server),
        ] {
            insta::assert_snapshot!(format!("{name}_{part}"), code);
        }
    }
}

#[test]
fn generation_is_deterministic() {
    for (path, _) in documents() {
        assert_eq!(
            generate(&path),
            generate(&path),
            "{path} generated two different outputs"
        );
    }
}
