//! The results: sections of Markdown and one row per target, printed and written into the results
//! file between markers, so a run replaces what it measured and keeps the rest of the file (the
//! hand-written analysis, and the build section of an earlier `--build` run).

use std::path::Path;

/// Whether a target was met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Not measured, and why.
    NotRun(String),
}

impl Verdict {
    /// `Met` if `ok`, else `Missed`.
    pub fn from(ok: bool) -> Verdict {
        if ok { Verdict::Met } else { Verdict::Missed }
    }

    fn cell(&self) -> String {
        match self {
            Verdict::Met => "✅ met".to_string(),
            Verdict::Missed => "❌ missed".to_string(),
            Verdict::NotRun(why) => format!("– not run: {why}"),
        }
    }
}

/// One target of the issue and what was measured.
#[derive(Debug, Clone)]
pub struct TargetRow {
    /// What is measured.
    pub what: String,
    /// The target, e.g. `≥ 0.95×`.
    pub target: String,
    /// Median (min–max) over the rounds.
    pub measured: String,
    /// Met or not.
    pub verdict: Verdict,
}

/// A part of the results file, replaced as a whole by a run that measures it.
#[derive(Debug, Default)]
pub struct Block {
    /// Target rows, shown first as one table.
    pub targets: Vec<TargetRow>,
    /// Detail sections, in order.
    pub sections: Vec<String>,
}

impl Block {
    /// Adds a target row.
    pub fn target(
        &mut self,
        what: impl Into<String>,
        target: impl Into<String>,
        measured: impl Into<String>,
        verdict: Verdict,
    ) {
        self.targets.push(TargetRow {
            what: what.into(),
            target: target.into(),
            measured: measured.into(),
            verdict,
        });
    }

    /// Adds a section of Markdown.
    pub fn section(&mut self, markdown: impl Into<String>) {
        self.sections.push(markdown.into());
    }

    /// The block as Markdown: the machine, the target table, the sections.
    pub fn render(&self, heading: &str, machine: &str) -> String {
        let mut out = format!("## {heading}\n\n{machine}\n");
        if !self.targets.is_empty() {
            out.push_str("| Measure | Target | Measured: median (min–max) | |\n");
            out.push_str("| --- | --- | --- | --- |\n");
            for row in &self.targets {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    row.what,
                    row.target,
                    row.measured,
                    row.verdict.cell()
                ));
            }
            out.push('\n');
        }
        for section in &self.sections {
            out.push_str(section.trim_end());
            out.push_str("\n\n");
        }
        out
    }

    /// Whether any target was missed.
    pub fn any_missed(&self) -> bool {
        self.targets.iter().any(|t| t.verdict == Verdict::Missed)
    }
}

/// Replaces the text between `<!-- roma-bench:begin NAME -->` and `<!-- roma-bench:end NAME -->`
/// in `document` with `content`, or appends a marked block if there is none.
pub fn splice(document: &str, name: &str, content: &str) -> String {
    let begin = format!("<!-- roma-bench:begin {name} -->");
    let end = format!("<!-- roma-bench:end {name} -->");
    let block = format!(
        "{begin}\n<!-- Written by `cargo xtask bench`; edits inside these markers are overwritten. -->\n\n{}\n{end}",
        content.trim_end()
    );
    if let Some(start) = document.find(&begin)
        && let Some(stop) = document[start..].find(&end)
    {
        let stop = start + stop + end.len();
        return format!("{}{block}{}", &document[..start], &document[stop..]);
    }
    let mut out = document.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&block);
    out.push('\n');
    out
}

/// Writes `blocks` (name, Markdown) into the results file at `path`, keeping everything else.
pub fn write(path: &Path, blocks: &[(&str, String)]) -> Result<(), String> {
    let mut document = std::fs::read_to_string(path).unwrap_or_default();
    for (name, content) in blocks {
        document = splice(&document, name, content);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, document).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_replaced_and_the_rest_kept() {
        let doc = "# Title\n\nintro\n";
        let once = splice(doc, "runtime", "first");
        assert!(once.starts_with("# Title\n\nintro\n\n<!-- roma-bench:begin runtime -->"));
        let with_build = splice(&once, "build", "b1");
        let twice = splice(&with_build, "runtime", "second");
        assert!(twice.contains("second") && !twice.contains("first"));
        assert!(twice.contains("b1") && twice.contains("intro"));
        assert_eq!(twice.matches("roma-bench:begin runtime").count(), 1);
    }

    #[test]
    fn the_target_table_marks_misses() {
        let mut block = Block::default();
        block.target("a", "≥ 1", "2", Verdict::Met);
        block.target("b", "≥ 1", "0", Verdict::Missed);
        let text = block.render("R", "machine");
        assert!(text.contains("| a | ≥ 1 | 2 | ✅ met |"), "{text}");
        assert!(block.any_missed());
    }
}
