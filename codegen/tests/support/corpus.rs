//! The corpus outcome table: every OpenAPI document under `tests/corpus/` (public documents
//! nobody here wrote, see `tests/corpus/SOURCES.md`) through progenitor alone and through
//! `roma_assets_codegen::generate`, one row each.
//!
//! One definition for its two users, each of which includes this file with `#[path]`:
//! `codegen/tests/corpus.rs` pins the table as an insta snapshot, `cargo xtask corpus` prints it.
//!
//! Each half is run on its own (`generate_client`, `generate_server`), so each column says
//! exactly what that half does with the document.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use roma_assets_codegen::Error;

/// Longest message kept in a cell (its first line, in characters).
const MESSAGE_CHARS: usize = 100;

/// One document's outcomes, each already worded for its cell.
struct Row {
    document: String,
    progenitor: Cell,
    client: Cell,
    server: Cell,
}

#[derive(PartialEq, Eq)]
enum Cell {
    /// The code was generated.
    Generated,
    /// An error was returned (the message).
    Refused(String),
    /// The generator panicked (the message). For `generate` this is a bug.
    Panicked(String),
    /// Not run: the document did not parse.
    NotRun(&'static str),
}

impl Cell {
    fn ok(&self) -> bool {
        *self == Cell::Generated
    }

    /// `ours` panicking is a row the test refuses; progenitor panicking is an outcome like any.
    fn text(&self, ours: bool) -> String {
        match self {
            Cell::Generated => "generated".into(),
            Cell::Refused(message) => format!("refused: {message}"),
            Cell::Panicked(message) if ours => format!("PANIC: {message}"),
            Cell::Panicked(message) => format!("panicked: {message}"),
            Cell::NotRun(why) => format!("not run ({why})"),
        }
    }
}

/// The outcome table of every document in a directory.
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Runs both generators on every `.json`, `.yaml` and `.yml` file in `dir`, sorted by name.
    /// Only reading the directory can fail: a document that does not parse is a row.
    pub fn build(dir: &Path) -> Result<Table, String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if [".json", ".yaml", ".yml"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                names.push(name);
            }
        }
        names.sort();
        let mut rows = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            rows.push(row(name, &text));
        }
        Ok(Table { rows })
    }

    /// The table in Markdown, one row per document.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| document | progenitor alone | ours: client | ours: server |\n|---|---|---|---|\n",
        );
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row.document,
                row.progenitor.text(false),
                row.client.text(true),
                row.server.text(true),
            ));
        }
        out
    }

    /// One line: how many documents each generator turned into code.
    pub fn totals(&self) -> String {
        let count = |cell: fn(&Row) -> &Cell| self.rows.iter().filter(|r| cell(r).ok()).count();
        let n = self.rows.len();
        format!(
            "{n} documents: progenitor alone generated {}/{n}; ours generated the client for {}/{n} and the server for {}/{n}; both for {}/{n}.",
            count(|r| &r.progenitor),
            count(|r| &r.client),
            count(|r| &r.server),
            self.rows
                .iter()
                .filter(|r| r.client.ok() && r.server.ok())
                .count(),
        )
    }

    /// The documents on which `generate` panicked (it must not, on any document).
    pub fn panics(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| {
                matches!(r.client, Cell::Panicked(_)) || matches!(r.server, Cell::Panicked(_))
            })
            .map(|r| r.document.as_str())
            .collect()
    }
}

fn row(document: String, text: &str) -> Row {
    let spec = match parse(&document, text) {
        Ok(spec) => spec,
        Err(message) => {
            return Row {
                document,
                progenitor: Cell::Refused(format!("the document does not parse: {message}")),
                client: Cell::NotRun("the document does not parse"),
                server: Cell::NotRun("the document does not parse"),
            };
        }
    };
    let progenitor = match quietly(|| {
        progenitor_impl::Generator::new(&progenitor_impl::GenerationSettings::default())
            .generate_tokens(&spec)
    }) {
        Ok(Ok(_)) => Cell::Generated,
        Ok(Err(e)) => Cell::Refused(short(&e.to_string())),
        Err(message) => Cell::Panicked(short(&message)),
    };
    let half = |generate: fn(&openapiv3::OpenAPI) -> Result<String, Error>| match quietly(|| {
        generate(&spec)
    }) {
        Ok(Ok(_)) => Cell::Generated,
        Ok(Err(e)) => Cell::Refused(short(&e.to_string())),
        Err(message) => Cell::Panicked(short(&message)),
    };
    let client = half(roma_assets_codegen::generate_client);
    let server = half(roma_assets_codegen::generate_server);
    Row {
        document,
        progenitor,
        client,
        server,
    }
}

/// JSON by extension, YAML otherwise.
fn parse(name: &str, text: &str) -> Result<openapiv3::OpenAPI, String> {
    if name.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| short(&e.to_string()))
    } else {
        yaml_serde::from_str(text).map_err(|e| short(&e.to_string()))
    }
}

/// Runs `f`, a panic turned into its message. The panic hook is silenced meanwhile (progenitor
/// panics on several documents, and `generate` catches those itself): every panic in `f` is
/// caught and its message ends up in the table, so printing it, with its backtrace when
/// `RUST_BACKTRACE` is set, would only bury the table. The hook is process-wide: the test
/// that builds the table is the only test in its binary.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// The first line, at most [`MESSAGE_CHARS`] characters, safe inside a Markdown table cell.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(MESSAGE_CHARS).collect();
    if line.chars().count() > MESSAGE_CHARS {
        out.push('…');
    }
    out.replace('|', "\\|")
}
