//! Generates the client and server of every document in `tests/corpus/` that the generator
//! accepts, each into `OUT_DIR/<name>/`, and `OUT_DIR/corpus.rs`, a module per document. The
//! refused ones are the outcome table's business (`codegen/tests/corpus.rs`), not this crate's.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    println!("cargo:rerun-if-changed={}", corpus.display());
    let mut names: Vec<_> = std::fs::read_dir(&corpus)
        .expect("reading tests/corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml")
            )
        })
        .collect();
    names.sort();
    let mut modules = String::new();
    let mut all = Vec::new();
    for path in names {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).expect("reading a corpus document");
        let spec: Option<openapiv3::OpenAPI> = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).ok()
        } else {
            yaml_serde::from_str(&text).ok()
        };
        let Some(spec) = spec else { continue };
        let Ok(generated) = roma_assets_codegen::generate(&spec) else {
            continue;
        };
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let module: String = file
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let dir = Path::new(&out).join(&module);
        std::fs::create_dir_all(&dir).expect("creating the output directory");
        std::fs::write(dir.join("contract.rs"), generated.contract).expect("writing contract.rs");
        std::fs::write(dir.join("client.rs"), generated.client).expect("writing client.rs");
        std::fs::write(dir.join("server.rs"), generated.server).expect("writing server.rs");
        writeln!(
            modules,
            "#[doc = {file:?}] pub mod {module} {{\n\
             #[allow(dead_code, unused_imports, unused_comparisons, clippy::all)] pub mod contract {{ include!(concat!(env!(\"OUT_DIR\"), \"/{module}/contract.rs\")); }}\n\
             #[allow(dead_code, unused_imports, unreachable_patterns, unused_comparisons, clippy::all)] pub mod client {{ include!(concat!(env!(\"OUT_DIR\"), \"/{module}/client.rs\")); }}\n\
             #[allow(dead_code, unused_imports, clippy::all)] pub mod server {{ include!(concat!(env!(\"OUT_DIR\"), \"/{module}/server.rs\")); }}\n\
             }}"
        )
        .unwrap();
        writeln!(
            modules,
            "pub const {}: Document = Document {{ file: {file:?}, router: || {module}::server::router({module}::server::NotImplemented), operations: || {module}::server::OPERATIONS.iter().map(|o| (o.method, o.path, o.operation_id)).collect() }};",
            module.to_ascii_uppercase()
        )
        .unwrap();
        all.push(module.to_ascii_uppercase());
    }
    writeln!(
        modules,
        "/// Every compiled document.\npub const ALL: &[Document] = &[{}];",
        all.join(", ")
    )
    .unwrap();
    std::fs::write(Path::new(&out).join("corpus.rs"), modules).expect("writing corpus.rs");
}
