//! The corpus: every public OpenAPI document under `tests/corpus/` (nobody here wrote them; see
//! `tests/corpus/SOURCES.md`) through progenitor alone and through `generate`, the outcome of
//! each pinned as one table (`codegen/tests/snapshots/corpus__outcomes.snap`). A generator change that
//! turns a document from refused to generated, or back, or changes why, shows up as a snapshot
//! diff. `cargo xtask corpus` prints the same table; README states its totals line, checked here.
//!
//! A document may make progenitor panic (a row says so); it must never make `generate` panic.

#[path = "support/corpus.rs"]
mod corpus;

use std::path::Path;

#[test]
fn the_corpus_outcomes_match_the_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let table = corpus::Table::build(&root.join("tests/corpus")).expect("reading the corpus");
    let outcomes = format!("{}\n{}", table.markdown(), table.totals());
    insta::assert_snapshot!("outcomes", outcomes);

    let panics = table.panics();
    assert!(panics.is_empty(), "generate panicked on {panics:?}");

    let readme = std::fs::read_to_string(root.join("README.md")).expect("reading README.md");
    assert!(
        readme.contains(&table.totals()),
        "README.md does not state the corpus totals; it should contain the line\n{}",
        table.totals()
    );
}
