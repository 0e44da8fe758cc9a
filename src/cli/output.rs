//! Printing: results on stdout (text tables, or one JSON document with `--json`), progress bars
//! on stderr only when it is a terminal and `--json` is off, so pipes and scripts get clean
//! output. Nothing here talks to the server.

use std::fmt::Write as _;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::contract::types;

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON document on stdout instead of text.
    pub json: bool,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Output {
    /// JSON or text; progress bars only for text on a terminal.
    pub fn new(json: bool) -> Self {
        Output {
            json,
            progress: !json && std::io::stderr().is_terminal(),
        }
    }

    /// A bar from 0 to 100 % for a job, fed from `progress_percent`.
    pub fn job_bar(&self, job_id: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        ProgressBar::new(100)
            .with_style(style("{prefix} [{bar:40}] {pos:>3}% {msg}", "=> "))
            .with_prefix(format!("job {job_id}"))
    }

    /// A byte counter for an upload or download, a bar when `total` is known.
    pub fn bytes_bar(&self, label: &str, total: Option<u64>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(style(
                "{prefix} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
                "=> ",
            )),
            None => ProgressBar::no_length()
                .with_style(style("{prefix} {spinner} {bytes} {bytes_per_sec}", "=> ")),
        };
        bar.with_prefix(label.to_string())
    }

    /// Prints `text` on stdout unless the output is JSON.
    pub fn text(&self, text: &str) {
        if !self.json {
            write_stdout(text);
        }
    }
}

fn style(template: &str, chars: &str) -> ProgressStyle {
    // The templates are constants; a typo would show the default bar rather than panic.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars(chars)
}

/// Writes to stdout, ignoring a closed pipe (`roma-assets apps | head -1`) rather than
/// panicking as `print!` does.
fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => write_stdout(&format!("{text}\n")),
        // Our values are plain data with string keys; this cannot happen, but say so if it does.
        Err(e) => eprintln!("error: writing JSON: {e}"),
    }
}

/// A text table: a header row and left-aligned columns two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A job's status as text, with its reasons as a table when it failed.
pub fn job_summary(job: &types::CheckAssetJobStatusResponse) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<9} {value}");
    };
    field("job", &job.id);
    field("type", &job.type_.to_string());
    field("status", &job.status.to_string());
    field(
        "progress",
        &format!("{:.0}%", job.progress_percent.clamp(0.0, 1.0) * 100.0),
    );
    if let Some(archive) = &job.archive_id {
        field("archive", archive);
    }
    field("began", &time(&job.begin_time));
    if let Some(end) = &job.end_time {
        field("ended", &time(end));
    }
    if !job.reasons.is_empty() {
        out.push_str("reasons:\n");
        let rows: Vec<Vec<String>> = job
            .reasons
            .iter()
            .map(|r| {
                vec![
                    r.resource_type.to_string(),
                    r.resource_name.to_string(),
                    r.error_code.to_string(),
                    r.error_msg.to_string(),
                ]
            })
            .collect();
        for line in table(&["TYPE", "NAME", "CODE", "MESSAGE"], &rows).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// A time as the document writes it: ISO-8601 UTC, whole seconds.
pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let rows = vec![
            vec!["a".to_string(), "long name".to_string(), String::new()],
            vec!["bbbb".to_string(), "x".to_string(), "z".to_string()],
        ];
        assert_eq!(
            table(&["ID", "NAME", "NOTE"], &rows),
            "ID    NAME       NOTE\na     long name\nbbbb  x          z\n"
        );
    }

    #[test]
    fn a_failed_job_lists_its_reasons() {
        let job: types::CheckAssetJobStatusResponse = serde_json::from_value(serde_json::json!({
            "id": "j1", "type": "importAsset", "status": "FAILED", "progress_percent": 1,
            "begin_time": "2019-12-06T06:49:04Z", "end_time": "2019-12-06T06:49:05Z",
            "reasons": [{"resource_type": "application", "resource_name": "orders",
                         "error_code": "ROMA.10040", "error_msg": "name exists"}]
        }))
        .unwrap();
        let text = job_summary(&job);
        assert!(text.contains("status    FAILED\n"), "{text}");
        assert!(text.contains("ended     2019-12-06T06:49:05Z\n"), "{text}");
        assert!(
            text.contains("  application  orders  ROMA.10040  name exists\n"),
            "{text}"
        );
    }
}
