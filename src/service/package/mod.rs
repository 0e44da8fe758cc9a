//! The asset package: the zip an export writes and an import reads.
//!
//! The layout is ours (format version [`FORMAT_VERSION`], `manifest.rs`) and makes no claim of
//! compatibility with the packages of the real ROMA Connect service. `write.rs` writes a
//! package; `read.rs` reads one as hostile input and is the one place a package is checked;
//! `error.rs` holds [`PackageError`] and the codes of its refusals.
//!
//! This module must not touch a store, know about jobs, or block an async executor: it is plain
//! synchronous code, for the caller to run in `spawn_blocking`.

mod error;
mod manifest;
mod read;
mod write;

use std::collections::HashSet;

pub use error::PackageError;
pub use manifest::{
    FORMAT_VERSION, MANIFEST_FILE, Manifest, ManifestEntry, ManifestSource, manifest_schema,
};
pub use read::{
    IndexedPackage, PackageTasks, RATIO_CHECK_MIN_BYTES, index_package, read_package,
    read_package_from,
};
pub use write::write_package;

use super::model::{AppAsset, MAX_ASSETS, TaskAsset, TaskHead};
use error::{invalid, show};

/// How much a package may hold before the reader refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageLimits {
    /// Entries in the zip, directories included.
    pub max_entries: usize,
    /// Uncompressed bytes of one entry.
    pub max_entry_bytes: u64,
    /// Uncompressed bytes of all entries read.
    pub max_total_bytes: u64,
    /// Uncompressed / compressed size of one entry, checked for entries over
    /// [`RATIO_CHECK_MIN_BYTES`].
    pub max_ratio: u64,
    /// Apps and tasks together.
    pub max_assets: usize,
}

impl Default for PackageLimits {
    /// 512 entries, 16 MiB per entry, 256 MiB in total, ratio 200, and the document's asset
    /// limit ([`MAX_ASSETS`], 100).
    fn default() -> Self {
        PackageLimits {
            max_entries: 512,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_ratio: 200,
            max_assets: MAX_ASSETS,
        }
    }
}

/// A package as read: its manifest and its assets, in manifest order.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// The manifest.
    pub manifest: Manifest,
    /// The apps, in the order of `manifest.apps`.
    pub apps: Vec<AppAsset>,
    /// The tasks, in the order of `manifest.tasks`.
    pub tasks: Vec<TaskAsset>,
}

// The package's consistency: the reader refuses a package that breaks it, and the writer never
// writes one.

/// Ids and names non-empty and unique among the assets of one kind.
fn check_unique<'a>(
    kind: &str,
    assets: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), PackageError> {
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (index, (id, name)) in assets.enumerate() {
        if id.is_empty() {
            return Err(invalid(format!("{kind} #{index} has an empty id")));
        }
        if name.is_empty() {
            return Err(invalid(format!("{kind} `{}` has an empty name", show(id))));
        }
        if !ids.insert(id) {
            return Err(invalid(format!("two {kind}s have the id `{}`", show(id))));
        }
        if !names.insert(name) {
            return Err(invalid(format!(
                "two {kind}s have the name `{}`",
                show(name)
            )));
        }
    }
    Ok(())
}

/// Every task's app is one of `app_ids`.
fn check_app_refs(app_ids: &HashSet<&str>, tasks: &[TaskHead]) -> Result<(), PackageError> {
    match tasks.iter().find(|t| !app_ids.contains(t.app_id.as_str())) {
        Some(task) => Err(invalid(format!(
            "task `{}`: its app `{}` is not in the package",
            show(&task.id),
            show(&task.app_id)
        ))),
        None => Ok(()),
    }
}

/// Fixtures of the package's tests.
#[cfg(test)]
mod testing {
    use super::manifest::sha256_hex;
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};
    use std::io::{Cursor, Read, Write};
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipArchive, ZipWriter};

    pub(crate) type Entries = Vec<(String, Vec<u8>)>;

    pub(crate) fn created_at() -> DateTime<Utc> {
        "2024-05-06T07:08:09Z".parse().expect("a valid time")
    }

    pub(crate) fn source() -> ManifestSource {
        ManifestSource {
            project_id: "p1".to_string(),
            instance_id: "i1".to_string(),
        }
    }

    pub(crate) fn app(id: &str, name: &str) -> AppAsset {
        AppAsset {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("the {name} app"),
        }
    }

    pub(crate) fn task(id: &str, name: &str, app_id: &str) -> TaskAsset {
        TaskAsset {
            id: id.to_string(),
            name: name.to_string(),
            app_id: app_id.to_string(),
            task_type: Default::default(),
            task_tag: String::new(),
            source: json!({"connection": "mysql-1", "table": "orders"}),
            target: json!({"connection": "dws-1", "table": "orders_copy", "batch": 500}),
        }
    }

    pub(crate) fn sample_apps() -> Vec<AppAsset> {
        vec![app("app-1", "Orders"), app("app-2", "Billing")]
    }

    pub(crate) fn sample_tasks() -> Vec<TaskAsset> {
        vec![
            task("task-1", "sync orders", "app-1"),
            task("task-2", "sync invoices", "app-2"),
        ]
    }

    pub(crate) fn write_to_vec(apps: &[AppAsset], tasks: &[TaskAsset]) -> (Manifest, Vec<u8>) {
        let mut out = Cursor::new(Vec::new());
        let manifest =
            write_package(&mut out, source(), apps, tasks, created_at()).expect("package written");
        (manifest, out.into_inner())
    }

    pub(crate) fn sample_package() -> Vec<u8> {
        write_to_vec(&sample_apps(), &sample_tasks()).1
    }

    pub(crate) fn read(bytes: &[u8], limits: &PackageLimits) -> Result<Package, PackageError> {
        read_package_from(Cursor::new(bytes), limits)
    }

    /// Reads `bytes`, expects the failure `code`, and checks the message fits `error_details`.
    pub(crate) fn rejected(bytes: &[u8], limits: &PackageLimits, code: &str) -> PackageError {
        let err = read(bytes, limits).expect_err("the package should be rejected");
        assert_eq!(err.code(), code, "unexpected error: {err}");
        let message = err.to_string();
        assert!(
            message.chars().count() <= 128,
            "message too long: {message}"
        );
        err
    }

    /// The entries of a zip, in order.
    pub(crate) fn unpack(bytes: &[u8]) -> Entries {
        let mut zip = ZipArchive::new(Cursor::new(bytes)).expect("a zip");
        (0..zip.len())
            .map(|i| {
                let mut file = zip.by_index(i).expect("an entry");
                let mut data = Vec::new();
                file.read_to_end(&mut data).expect("entry data");
                (file.name().expect("a name").to_string(), data)
            })
            .collect()
    }

    /// A zip of `entries`, Deflate-compressed, in order.
    pub(crate) fn pack(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(name.as_str(), options)
                .expect("entry started");
            zip.write_all(data).expect("entry written");
        }
        zip.finish().expect("zip finished").into_inner()
    }

    pub(crate) fn named(name: &str, data: &[u8]) -> (String, Vec<u8>) {
        (name.to_string(), data.to_vec())
    }

    pub(crate) fn position(entries: &Entries, name: &str) -> usize {
        entries
            .iter()
            .position(|(n, _)| n == name)
            .expect("entry present")
    }

    pub(crate) fn manifest_of(entries: &Entries) -> Value {
        serde_json::from_slice(&entries[position(entries, MANIFEST_FILE)].1).expect("JSON")
    }

    pub(crate) fn set_manifest(entries: &mut Entries, manifest: &Value) {
        let at = position(entries, MANIFEST_FILE);
        entries[at].1 = serde_json::to_vec(manifest).expect("JSON");
    }

    /// Replaces the content of asset file `file` and the manifest's checksum of it.
    pub(crate) fn set_asset(entries: &mut Entries, file: &str, content: &[u8]) {
        let at = position(entries, file);
        entries[at].1 = content.to_vec();
        let mut manifest = manifest_of(entries);
        for kind in ["apps", "tasks"] {
            for entry in manifest[kind].as_array_mut().expect("a list") {
                if entry["file"] == file {
                    entry["sha256"] = json!(sha256_hex(content));
                }
            }
        }
        set_manifest(entries, &manifest);
    }

    /// Replaces every occurrence of `from` in `bytes` by `to`, of the same length.
    pub(crate) fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let mut found = 0;
        let mut at = 0;
        while at + from.len() <= bytes.len() {
            if &bytes[at..at + from.len()] == from {
                bytes[at..at + from.len()].copy_from_slice(to);
                found += 1;
                at += from.len();
            } else {
                at += 1;
            }
        }
        assert!(found > 0, "nothing to patch");
    }

    /// Sets the declared uncompressed size of entry `name` in its local and central headers.
    pub(crate) fn patch_declared_size(bytes: &mut [u8], name: &str, size: u32) {
        let field = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
        let mut patched = 0;
        for at in 0..bytes.len().saturating_sub(46) {
            // (signature, offset of the name length, offset of the name, offset of the size)
            let layout = match &bytes[at..at + 4] {
                b"PK\x03\x04" => (26, 30, 22),
                b"PK\x01\x02" => (28, 46, 24),
                _ => continue,
            };
            let len = field(bytes, at + layout.0);
            let start = at + layout.1;
            if bytes.get(start..start + len) == Some(name.as_bytes()) {
                bytes[at + layout.2..at + layout.2 + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
        assert_eq!(patched, 2, "local and central header patched");
    }
}
