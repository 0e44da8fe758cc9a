//! The asset package: the zip an export writes and an import reads.
//!
//! The layout is ours (format version [`FORMAT_VERSION`]) and makes no claim of compatibility
//! with the packages of the real ROMA Connect service: a `manifest.json` ([`Manifest`]) naming
//! the format version and listing every asset with its file and SHA-256, then one JSON file per
//! asset, `apps/<id>.json` ([`AppAsset`]) and `tasks/<id>.json` ([`TaskAsset`]).
//!
//! The reader treats every package as hostile. It never extracts anything to disk and never
//! trusts a size the zip declares: it reads one entry at a time through a reader that counts the
//! bytes actually decompressed and stops at the [`PackageLimits`]. It rejects unsafe names,
//! links, duplicate names, and any entry the manifest does not account for, and reports each
//! failure as a [`PackageError`] with a stable error code.
//!
//! This module must not touch a store, know about jobs, or block an async executor: it is plain
//! synchronous code, for the caller to run in `spawn_blocking`.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::model::{AppAsset, TaskAsset, TaskHead};
use super::store::{StoreError, TaskFeed};

/// The package layout this module writes, and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the manifest entry.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Folder of the app files.
const APPS_DIR: &str = "apps";
/// Folder of the task files.
const TASKS_DIR: &str = "tasks";

/// Entries at most this large (uncompressed) are exempt from the ratio check: a tiny JSON file
/// of repeated spaces compresses very well without being a bomb.
pub const RATIO_CHECK_MIN_BYTES: u64 = 64 * 1024;

/// Longest entry name accepted, in bytes (the usual file-name limit of file systems).
const MAX_NAME_BYTES: usize = 255;

/// Entry names and values are cut to this many characters in error messages, so a message fits
/// the 128-character `error_details` of the API.
const MESSAGE_NAME_CHARS: usize = 60;

/// Messages are cut to this many characters.
const MESSAGE_CHARS: usize = 120;

/// Ids of at most this many characters name their file; longer ones get an index-based name.
const MAX_ID_FILE_CHARS: usize = 64;

/// The `manifest.json` of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of the package layout; this reader knows version 1 only.
    #[schemars(range(min = 1, max = 1))]
    pub format_version: u32,
    /// When the package was written (RFC 3339, UTC).
    #[schemars(schema_with = "date_time_schema")]
    pub created_at: DateTime<Utc>,
    /// The instance the assets were exported from.
    pub source: ManifestSource,
    /// Every app of the package, in package order.
    pub apps: Vec<ManifestEntry>,
    /// Every task of the package, in package order.
    pub tasks: Vec<ManifestEntry>,
}

/// Where a package was exported from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Project ID of the exporting instance.
    pub project_id: String,
    /// Instance ID of the exporting instance.
    pub instance_id: String,
}

/// One asset of a package, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The asset's id; equals the `id` inside its file.
    #[schemars(length(min = 1))]
    pub id: String,
    /// The asset's name; equals the `name` inside its file.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The zip entry holding the asset: `apps/….json` for an app, `tasks/….json` for a task.
    #[schemars(regex(pattern = r"^(apps|tasks)/[A-Za-z0-9_.-]+\.json$"))]
    pub file: String,
    /// SHA-256 of the entry's bytes, lowercase hex.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

fn date_time_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        format: Some("date-time".to_string()),
        ..Default::default()
    }
    .into()
}

/// The JSON Schema (draft-07) of [`Manifest`], derived from the same types the reader parses
/// with, so a manifest the reader accepts is one the schema accepts.
pub fn manifest_schema() -> serde_json::Value {
    // Serializing a schemars schema cannot fail: it has string keys only.
    serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
}

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
    /// limit ([`super::jobs::MAX_ASSETS`], 100).
    fn default() -> Self {
        PackageLimits {
            max_entries: 512,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_ratio: 200,
            max_assets: super::jobs::MAX_ASSETS,
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

/// Why a package could not be read or written. Messages name the entry and the limit or value
/// at fault and stay under about 120 characters.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a zip, truncated, or an entry that does not decompress (ROMA.10011).
    #[error("package cannot be decompressed: {0}")]
    Corrupt(String),
    /// The package's file name breaks the document's rule for uploads (checked by the server's
    /// generated layer as the part arrives; by `package inspect` and the client before).
    #[error("{0}")]
    BadFileName(String),
    /// An entry whose name or type could escape or alias the package (ROMA.10030).
    #[error("entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry name (cut for display).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Too many entries, or too many bytes, or a ratio that betrays a zip bomb (ROMA.10031).
    #[error("{0}")]
    LimitExceeded(String),
    /// Two entries with the same name (ROMA.10032).
    #[error("entry `{0}` appears more than once")]
    DuplicateEntry(String),
    /// An asset file whose SHA-256 differs from the manifest's (ROMA.10033).
    #[error(
        "entry `{entry}`: sha256 {}… differs from the manifest's {}…",
        prefix(.actual, 12),
        prefix(.expected, 12)
    )]
    ChecksumMismatch {
        /// The entry name (cut for display).
        entry: String,
        /// SHA-256 the manifest lists.
        expected: String,
        /// SHA-256 of the entry's bytes.
        actual: String,
    },
    /// A manifest of another format version (ROMA.10034).
    #[error("manifest.json: format_version {0} is not supported (this reader knows 1)")]
    UnknownVersion(String),
    /// A package that is a readable zip but not a consistent package (ROMA.10035).
    #[error("{0}")]
    Invalid(String),
    /// More apps and tasks than allowed (ROMA.10036).
    #[error("package holds {count} apps and tasks, at most {max} are allowed")]
    TooManyAssets {
        /// Apps and tasks in the manifest.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The package file could not be opened, or the package could not be written (ROMA.10010).
    /// Not the package's fault: an internal error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

impl PackageError {
    /// The error code of this failure, as the API reports it.
    pub fn code(&self) -> &'static str {
        self.error_code().code
    }

    /// The document's error code (with its status) for this failure.
    pub fn error_code(&self) -> crate::contract::codes::ErrorCode {
        use crate::contract::codes;
        match self {
            PackageError::Corrupt(_) => codes::ROMA_10011,
            PackageError::BadFileName(_) => codes::ROMA_10013,
            PackageError::UnsafeEntry { .. } => codes::ROMA_10030,
            PackageError::LimitExceeded(_) => codes::ROMA_10031,
            PackageError::DuplicateEntry(_) => codes::ROMA_10032,
            PackageError::ChecksumMismatch { .. } => codes::ROMA_10033,
            PackageError::UnknownVersion(_) => codes::ROMA_10034,
            PackageError::Invalid(_) => codes::ROMA_10035,
            PackageError::TooManyAssets { .. } => codes::ROMA_10036,
            PackageError::Io { .. } => codes::ROMA_10010,
        }
    }
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` fit for a message: control characters replaced, cut to `max` characters.
fn clip(s: &str, max: usize) -> String {
    let clean = s.chars().map(|c| if c.is_control() { '?' } else { c });
    if s.chars().count() <= max {
        clean.collect()
    } else {
        let mut cut: String = clean.take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An entry name fit for a message.
fn show(name: &str) -> String {
    clip(name, MESSAGE_NAME_CHARS)
}

fn invalid(message: String) -> PackageError {
    PackageError::Invalid(clip(&message, MESSAGE_CHARS))
}

fn limit(message: String) -> PackageError {
    PackageError::LimitExceeded(clip(&message, MESSAGE_CHARS))
}

fn corrupt(entry: Option<&str>, cause: &dyn std::fmt::Display) -> PackageError {
    let message = match entry {
        Some(name) => format!("entry `{}`: {cause}", show(name)),
        None => cause.to_string(),
    };
    // The prefix "package cannot be decompressed: " takes 32 characters.
    PackageError::Corrupt(clip(&message, MESSAGE_CHARS - 32))
}

fn unsafe_entry(name: &str, reason: &'static str) -> PackageError {
    PackageError::UnsafeEntry {
        entry: show(name),
        reason,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a package of `apps` and `tasks` to `out` and returns its manifest.
///
/// The manifest is the first entry, then the apps and the tasks in the given order, each
/// Deflate-compressed. Entry times are `created_at`, so equal inputs give equal bytes. The
/// assets are checked as the reader checks them (ids and names non-empty and unique per kind,
/// every task's app in the package, at most the default [`PackageLimits::max_assets`]), so
/// whatever this writes, [`read_package`] reads back.
pub fn write_package<W: Write + Seek>(
    out: W,
    source: ManifestSource,
    apps: &[AppAsset],
    tasks: &[TaskAsset],
    created_at: DateTime<Utc>,
) -> Result<Manifest, PackageError> {
    let count = apps.len() + tasks.len();
    let max = PackageLimits::default().max_assets;
    if count > max {
        return Err(PackageError::TooManyAssets { count, max });
    }
    check_unique("app", apps.iter().map(|a| (a.id.as_str(), a.name.as_str())))?;
    check_unique(
        "task",
        tasks.iter().map(|t| (t.id.as_str(), t.name.as_str())),
    )?;
    let app_ids: HashSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    let heads: Vec<TaskHead> = tasks.iter().map(TaskHead::from).collect();
    check_app_refs(&app_ids, &heads)?;

    let mut used = HashSet::new();
    let mut files = Vec::with_capacity(count);
    let mut app_entries = Vec::with_capacity(apps.len());
    for (index, app) in apps.iter().enumerate() {
        let (entry, bytes) = encode(APPS_DIR, index, &app.id, &app.name, app, &mut used)?;
        files.push((entry.file.clone(), bytes));
        app_entries.push(entry);
    }
    let mut task_entries = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.iter().enumerate() {
        let (entry, bytes) = encode(TASKS_DIR, index, &task.id, &task.name, task, &mut used)?;
        files.push((entry.file.clone(), bytes));
        task_entries.push(entry);
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at,
        source,
        apps: app_entries,
        tasks: task_entries,
    };
    let manifest_bytes = to_json(&manifest)?;

    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644)
        .last_modified_time(zip_time(created_at));
    let mut zip = ZipWriter::new(out);
    for (name, bytes) in std::iter::once((MANIFEST_FILE.to_string(), manifest_bytes)).chain(files) {
        zip.start_file(name, options).map_err(write_error)?;
        zip.write_all(&bytes).map_err(|source| PackageError::Io {
            context: "writing the package",
            source,
        })?;
    }
    let mut out = zip.finish().map_err(write_error)?;
    out.flush().map_err(|source| PackageError::Io {
        context: "writing the package",
        source,
    })?;
    Ok(manifest)
}

/// Serializes one asset and names its file: `<dir>/<id>.json` when the id is made of
/// `[A-Za-z0-9_-]` only and its name is still free (compared case-insensitively, for whoever
/// unzips on such a file system), else `<dir>/<index>.asset.json`, which no id can produce.
fn encode<T: Serialize>(
    dir: &str,
    index: usize,
    id: &str,
    name: &str,
    asset: &T,
    used: &mut HashSet<String>,
) -> Result<(ManifestEntry, Vec<u8>), PackageError> {
    let safe = !id.is_empty()
        && id.chars().count() <= MAX_ID_FILE_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let by_id = format!("{dir}/{id}.json");
    let file = if safe && used.insert(by_id.to_ascii_lowercase()) {
        by_id
    } else {
        format!("{dir}/{index:04}.asset.json")
    };
    let bytes = to_json(asset)?;
    let entry = ManifestEntry {
        id: id.to_string(),
        name: name.to_string(),
        file,
        sha256: sha256_hex(&bytes),
    };
    Ok((entry, bytes))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, PackageError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| PackageError::Io {
        context: "serializing the package",
        source: e.into(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_error(e: zip::result::ZipError) -> PackageError {
    let source = match e {
        zip::result::ZipError::Io(e) => e,
        other => std::io::Error::other(other),
    };
    PackageError::Io {
        context: "writing the package",
        source,
    }
}

/// `at` as a zip (MS-DOS) time; the zip epoch 1980-01-01 when out of its range (1980..=2107).
fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    let fields = (
        u16::try_from(at.year()),
        u8::try_from(at.month()),
        u8::try_from(at.day()),
        u8::try_from(at.hour()),
        u8::try_from(at.minute()),
        u8::try_from(at.second()),
    );
    match fields {
        (Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(s)) => {
            zip::DateTime::from_date_and_time(y, mo, d, h, mi, s).unwrap_or_default()
        }
        _ => zip::DateTime::default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the writer and the reader

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

// ---------------------------------------------------------------------------------------------
// Reading

/// Reads and checks the package at `path`. See [`read_package_from`].
pub fn read_package(path: &Path, limits: &PackageLimits) -> Result<Package, PackageError> {
    let file = File::open(path).map_err(|source| PackageError::Io {
        context: "opening the package",
        source,
    })?;
    read_package_from(BufReader::new(file), limits)
}

/// Reads and checks a package, treating it as hostile.
///
/// In order: the zip's central directory (entry count, names, types, duplicates, declared
/// sizes, local headers agreeing with it), then `manifest.json` (version first, then the strict
/// schema, the asset count, and that it lists exactly the package's files), then each asset
/// file (checksum, then content). Entries are read one at a time and at most
/// [`PackageLimits::max_entry_bytes`] of one is held in memory.
pub fn read_package_from<R: Read + Seek>(
    reader: R,
    limits: &PackageLimits,
) -> Result<Package, PackageError> {
    let mut tasks = Vec::new();
    let (manifest, apps, _) = read_checked(reader, limits, |task| tasks.push(task))?;
    Ok(Package {
        manifest,
        apps,
        tasks,
    })
}

/// A package checked in full, holding everything but the tasks' settings (see [`TaskHead`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PackageIndex {
    /// The manifest.
    pub manifest: Manifest,
    /// The applications (small: id, name, description).
    pub apps: Vec<AppAsset>,
    /// The tasks without their settings, in manifest order.
    pub tasks: Vec<TaskHead>,
}

/// Checks the package at `path` exactly as [`read_package`] does, but keeps only one task's
/// settings in memory at a time: for importing large packages. Read the settings again while
/// applying the import with [`PackageTasks::open`].
pub fn index_package(path: &Path, limits: &PackageLimits) -> Result<PackageIndex, PackageError> {
    let file = File::open(path).map_err(|source| PackageError::Io {
        context: "opening the package",
        source,
    })?;
    let (manifest, apps, tasks) = read_checked(BufReader::new(file), limits, drop)?;
    Ok(PackageIndex {
        manifest,
        apps,
        tasks,
    })
}

/// The tasks of an indexed package, read one at a time from its zip (each entry's checksum is
/// checked again, so a file changed since [`index_package`] is refused, not imported).
pub struct PackageTasks {
    zip: ZipArchive<BufReader<File>>,
    names: HashMap<String, usize>,
    entries: Vec<ManifestEntry>,
    heads: Vec<TaskHead>,
    limits: PackageLimits,
}

impl PackageTasks {
    /// Opens the package at `path`, indexed before as `index`.
    pub fn open(
        path: &Path,
        index: &PackageIndex,
        limits: &PackageLimits,
    ) -> Result<Self, PackageError> {
        let file = File::open(path).map_err(|source| PackageError::Io {
            context: "opening the package",
            source,
        })?;
        let zip = ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(None, &e))?;
        let names = (0..zip.len())
            .filter_map(|i| {
                zip.name_for_index(i)
                    .and_then(Result::ok)
                    .map(|name| (name.to_string(), i))
            })
            .collect();
        Ok(PackageTasks {
            zip,
            names,
            entries: index.manifest.tasks.clone(),
            heads: index.tasks.clone(),
            limits: limits.clone(),
        })
    }
}

impl TaskFeed for PackageTasks {
    fn heads(&self) -> &[TaskHead] {
        &self.heads
    }

    fn task(&mut self, index: usize) -> Result<TaskAsset, StoreError> {
        let entry = self
            .entries
            .get(index)
            .ok_or_else(|| StoreError::NotFound(format!("task {index} of the package")))?;
        let mut total = 0;
        let task: TaskAsset = read_asset(
            &mut self.zip,
            &self.names,
            entry,
            "task",
            &self.limits,
            &mut total,
        )
        .map_err(|e| StoreError::Corrupt(format!("re-reading the package: {e}")))?;
        if task.id != entry.id {
            return Err(StoreError::Corrupt(format!(
                "re-reading the package: task {} changed",
                entry.id
            )));
        }
        Ok(task)
    }
}

/// Reads and checks a package; hands each task to `on_task` once checked (the caller keeps it or
/// not) and returns the manifest, the apps and every task's head.
fn read_checked<R: Read + Seek>(
    reader: R,
    limits: &PackageLimits,
    mut on_task: impl FnMut(TaskAsset),
) -> Result<(Manifest, Vec<AppAsset>, Vec<TaskHead>), PackageError> {
    // Indexing the central directory costs memory per entry before `len()` can be checked:
    // bound the bytes it may read to the archive's tail plus 1 KiB per allowed entry.
    let budget = DIRECTORY_TAIL_BYTES.saturating_add(
        u64::try_from(limits.max_entries)
            .unwrap_or(u64::MAX)
            .saturating_mul(1024),
    );
    let left = Rc::new(Cell::new(budget));
    let budgeted = Budgeted {
        inner: reader,
        left: Rc::clone(&left),
    };
    let mut zip = match ZipArchive::new(budgeted) {
        Ok(zip) => zip,
        Err(_) if left.get() == 0 => {
            return Err(limit(format!(
                "package: central directory over {budget} bytes, limit for {} entries",
                limits.max_entries
            )));
        }
        Err(e) => return Err(corrupt(None, &e)),
    };
    left.set(u64::MAX);
    if zip.len() > limits.max_entries {
        return Err(limit(format!(
            "package has {} entries, limit {}",
            zip.len(),
            limits.max_entries
        )));
    }
    let names = scan_entries(&zip, limits)?;
    // zip keys entries by name: of two with one name it keeps only the last, and says so here.
    if zip.has_duplicate_names() {
        let start = zip.central_directory_start();
        let mut reader = zip.into_inner();
        let name = find_duplicate_name(&mut reader, start, limits.max_entries)
            .unwrap_or_else(|| "?".to_string());
        return Err(PackageError::DuplicateEntry(show(&name)));
    }
    // Local headers that disagree with the central directory, entries sharing bytes, or local
    // headers the directory does not list: ways to show one reader other content than another.
    zip.validate_header_consistency()
        .map_err(|e| corrupt(None, &e))?;

    let mut total = 0u64;
    let manifest_index = *names
        .get(MANIFEST_FILE)
        .ok_or_else(|| invalid(format!("{MANIFEST_FILE} is missing")))?;
    let manifest_bytes = read_entry(&mut zip, manifest_index, MANIFEST_FILE, limits, &mut total)?;
    let manifest = parse_manifest(&manifest_bytes)?;
    drop(manifest_bytes);

    let count = manifest.apps.len() + manifest.tasks.len();
    if count > limits.max_assets {
        return Err(PackageError::TooManyAssets {
            count,
            max: limits.max_assets,
        });
    }
    check_manifest(&manifest, &names)?;

    let mut apps = Vec::with_capacity(manifest.apps.len());
    for entry in &manifest.apps {
        let app: AppAsset = read_asset(&mut zip, &names, entry, "app", limits, &mut total)?;
        check_matches(entry, &app.id, &app.name)?;
        apps.push(app);
    }
    let mut tasks = Vec::with_capacity(manifest.tasks.len());
    for entry in &manifest.tasks {
        let task: TaskAsset = read_asset(&mut zip, &names, entry, "task", limits, &mut total)?;
        check_matches(entry, &task.id, &task.name)?;
        tasks.push(TaskHead::from(&task));
        on_task(task);
    }
    let app_ids: HashSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    check_app_refs(&app_ids, &tasks)?;

    Ok((manifest, apps, tasks))
}

/// Bytes of the archive's end that locating the central directory may read: a comment of up to
/// 64 KiB, the end records, and slack for the zip crate reading in 1 KiB blocks.
const DIRECTORY_TAIL_BYTES: u64 = 72 * 1024;

/// A reader that fails once it has yielded more than `left` bytes (shared, so the caller can
/// lift the cap once the zip's directory is indexed).
struct Budgeted<R> {
    inner: R,
    left: Rc<Cell<u64>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.get().checked_sub(n as u64) {
            Some(left) => {
                self.left.set(left);
                Ok(n)
            }
            None => {
                self.left.set(0);
                Err(std::io::Error::other("read budget exhausted"))
            }
        }
    }
}

impl<R: Seek> Seek for Budgeted<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Checks every entry of the central directory without reading any data, and returns the
/// index of each entry by name.
fn scan_entries<R: Read + Seek>(
    zip: &ZipArchive<R>,
    limits: &PackageLimits,
) -> Result<HashMap<String, usize>, PackageError> {
    let mut names = HashMap::with_capacity(zip.len());
    let mut declared_total = 0u64;
    for index in 0..zip.len() {
        let entry = zip.by_index_data(index).map_err(|e| corrupt(None, &e))?;
        let Ok(name) = std::str::from_utf8(entry.name_raw()) else {
            let lossy = String::from_utf8_lossy(entry.name_raw());
            return Err(unsafe_entry(&lossy, "name is not UTF-8"));
        };
        check_name(name).map_err(|reason| unsafe_entry(name, reason))?;
        // The file type lives in the high 16 bits of the external attributes whatever system
        // made the entry; a link is refused even if the entry claims to come from MS-DOS.
        if (entry.external_attributes() >> 16) & S_IFMT == S_IFLNK || entry.is_symlink() {
            return Err(unsafe_entry(name, "symbolic link"));
        }
        if let Some(mode) = entry.unix_mode()
            && !matches!(mode & S_IFMT, 0 | S_IFREG | S_IFDIR)
        {
            return Err(unsafe_entry(name, "not a regular file"));
        }
        if entry.encrypted() {
            return Err(corrupt(Some(name), &"encrypted entries are not supported"));
        }
        let size = entry.size();
        if size > limits.max_entry_bytes {
            return Err(limit(format!(
                "entry `{}`: declares {size} bytes, limit {}",
                show(name),
                limits.max_entry_bytes
            )));
        }
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_bytes {
            return Err(limit(format!(
                "package declares over {} bytes uncompressed in total",
                limits.max_total_bytes
            )));
        }
        if ratio_exceeded(size, entry.compressed_size(), limits.max_ratio) {
            return Err(ratio_error(name, limits.max_ratio));
        }
        names.insert(name.to_string(), index);
    }
    Ok(names)
}

/// File type bits of a unix mode.
const S_IFMT: u32 = 0o170_000;
/// Symbolic link.
const S_IFLNK: u32 = 0o120_000;
/// Regular file.
const S_IFREG: u32 = 0o100_000;
/// Directory.
const S_IFDIR: u32 = 0o040_000;

/// Why `name` is unsafe as an entry name, if it is.
fn check_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if name.is_empty() {
        return Err("empty name");
    }
    if bytes.len() > MAX_NAME_BYTES {
        return Err("name longer than 255 bytes");
    }
    if name.chars().any(char::is_control) {
        return Err("name contains NUL or a control character");
    }
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/') || name.starts_with('\\') || drive {
        return Err("absolute path");
    }
    if name.contains('\\') {
        return Err("name contains a backslash");
    }
    if name.contains(':') {
        return Err("name contains `:`");
    }
    let path = name.strip_suffix('/').unwrap_or(name);
    let mut canonical = true;
    for component in path.split('/') {
        if component == ".." {
            return Err("path escapes the package");
        }
        canonical &= !component.is_empty() && component != ".";
    }
    if canonical {
        Ok(())
    } else {
        Err("path has an empty or `.` component")
    }
}

fn ratio_exceeded(uncompressed: u64, compressed: u64, max_ratio: u64) -> bool {
    uncompressed > RATIO_CHECK_MIN_BYTES && uncompressed > compressed.saturating_mul(max_ratio)
}

fn ratio_error(name: &str, max_ratio: u64) -> PackageError {
    limit(format!(
        "entry `{}`: compression ratio over {max_ratio} (zip bomb?)",
        show(name)
    ))
}

/// Walks the central directory from `start` and returns the first name seen twice.
///
/// `ZipArchive` tells that names repeat but not which: this re-reads just the names (signature,
/// fixed 46-byte header, name, then skipping extra field and comment), at most `max_entries`
/// headers, and gives up on anything unexpected.
fn find_duplicate_name<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    max_entries: usize,
) -> Option<String> {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut seen = HashSet::new();
    for _ in 0..=max_entries {
        let mut header = [0u8; 46];
        reader.read_exact(&mut header).ok()?;
        if header[..4] != SIGNATURE {
            return None;
        }
        let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let (name_len, extra_len, comment_len) = (field(28), field(30), field(32));
        let mut name = vec![0u8; usize::from(name_len)];
        reader.read_exact(&mut name).ok()?;
        let skip = i64::from(extra_len) + i64::from(comment_len);
        reader.seek(SeekFrom::Current(skip)).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
    None
}

/// Decompresses entry `index` into memory, within the limits. See [`read_capped`].
fn read_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    index: usize,
    name: &str,
    limits: &PackageLimits,
    total: &mut u64,
) -> Result<Vec<u8>, PackageError> {
    let file = zip.by_index(index).map_err(|e| corrupt(Some(name), &e))?;
    let compressed = file.compressed_size();
    read_capped(file, name, compressed, limits, total)
}

/// Reads `reader` to its end, counting the bytes it actually yields (whatever the zip declared)
/// and stopping as soon as the entry, the package total (`total`, updated) or the compression
/// ratio against `compressed_size` goes over its limit.
fn read_capped<R: Read>(
    mut reader: R,
    name: &str,
    compressed_size: u64,
    limits: &PackageLimits,
    total: &mut u64,
) -> Result<Vec<u8>, PackageError> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(Some(name), &e)),
        };
        let len = out.len() as u64 + n as u64;
        if len > limits.max_entry_bytes {
            return Err(limit(format!(
                "entry `{}`: over {} bytes uncompressed",
                show(name),
                limits.max_entry_bytes
            )));
        }
        *total += n as u64;
        if *total > limits.max_total_bytes {
            return Err(limit(format!(
                "package: over {} bytes uncompressed in total",
                limits.max_total_bytes
            )));
        }
        if ratio_exceeded(len, compressed_size, limits.max_ratio) {
            return Err(ratio_error(name, limits.max_ratio));
        }
        out.extend_from_slice(&buffer[..n]);
    }
}

/// Parses `manifest.json`: the version leniently first, so a newer manifest reports its version
/// rather than a field this reader does not know; then strictly, against [`Manifest`].
fn parse_manifest(bytes: &[u8]) -> Result<Manifest, PackageError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("{MANIFEST_FILE} is not JSON: {e}")))?;
    let Some(version) = value.get("format_version") else {
        return Err(invalid(format!("{MANIFEST_FILE} has no format_version")));
    };
    if version.as_u64() != Some(u64::from(FORMAT_VERSION)) {
        return Err(PackageError::UnknownVersion(clip(
            &version.to_string(),
            MESSAGE_NAME_CHARS,
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| invalid(format!("{MANIFEST_FILE} does not match its schema: {e}")))
}

/// The manifest's own consistency, and that it lists exactly the package's files.
fn check_manifest(manifest: &Manifest, names: &HashMap<String, usize>) -> Result<(), PackageError> {
    fn ids_names(e: &ManifestEntry) -> (&str, &str) {
        (e.id.as_str(), e.name.as_str())
    }
    check_unique("app", manifest.apps.iter().map(ids_names))?;
    check_unique("task", manifest.tasks.iter().map(ids_names))?;

    let listed = manifest
        .apps
        .iter()
        .map(|e| (APPS_DIR, e))
        .chain(manifest.tasks.iter().map(|e| (TASKS_DIR, e)));
    let mut files = HashSet::new();
    for (dir, entry) in listed {
        let file = entry.file.as_str();
        let in_dir = file
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.contains('/') && rest.len() > ".json".len());
        if !in_dir || !file.ends_with(".json") {
            return Err(invalid(format!(
                "manifest: file `{}` is not {dir}/<name>.json",
                show(file)
            )));
        }
        if !files.insert(file) {
            return Err(invalid(format!(
                "manifest: `{}` is listed twice",
                show(file)
            )));
        }
        let lowercase_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if entry.sha256.len() != 64 || !entry.sha256.chars().all(lowercase_hex) {
            return Err(invalid(format!(
                "manifest: sha256 of `{}` is not 64 lowercase hex digits",
                show(file)
            )));
        }
        if !names.contains_key(file) {
            return Err(invalid(format!(
                "manifest lists `{}`, which is not in the package",
                show(file)
            )));
        }
    }
    // Directory entries that tools add when re-zipping a package are harmless; nothing else
    // may ride along unlisted.
    let mut unlisted: Vec<&String> = names
        .keys()
        .filter(|name| {
            let name = name.as_str();
            name != MANIFEST_FILE && name != "apps/" && name != "tasks/" && !files.contains(name)
        })
        .collect();
    unlisted.sort();
    match unlisted.first() {
        Some(name) => Err(invalid(format!(
            "entry `{}` is not listed in the manifest",
            show(name)
        ))),
        None => Ok(()),
    }
}

/// Reads one asset file: checksum against the manifest first, then the strict parse.
fn read_asset<R: Read + Seek, T: serde::de::DeserializeOwned>(
    zip: &mut ZipArchive<R>,
    names: &HashMap<String, usize>,
    entry: &ManifestEntry,
    kind: &str,
    limits: &PackageLimits,
    total: &mut u64,
) -> Result<T, PackageError> {
    let name = entry.file.as_str();
    let index = *names.get(name).ok_or_else(|| {
        invalid(format!(
            "manifest lists `{}`, which is not in the package",
            show(name)
        ))
    })?;
    let bytes = read_entry(zip, index, name, limits, total)?;
    let actual = sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(PackageError::ChecksumMismatch {
            entry: show(name),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("entry `{}`: not a valid {kind}: {e}", show(name))))
}

/// The asset read from `entry.file` is the one the manifest lists.
fn check_matches(entry: &ManifestEntry, id: &str, name: &str) -> Result<(), PackageError> {
    if id != entry.id {
        return Err(invalid(format!(
            "entry `{}`: id `{}` differs from the manifest's `{}`",
            show(&entry.file),
            clip(id, 24),
            clip(&entry.id, 24)
        )));
    }
    if name != entry.name {
        return Err(invalid(format!(
            "entry `{}`: name `{}` differs from the manifest's `{}`",
            show(&entry.file),
            clip(name, 24),
            clip(&entry.name, 24)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::io::Cursor;

    type Entries = Vec<(String, Vec<u8>)>;

    fn created_at() -> DateTime<Utc> {
        "2024-05-06T07:08:09Z".parse().expect("a valid time")
    }

    fn source() -> ManifestSource {
        ManifestSource {
            project_id: "p1".to_string(),
            instance_id: "i1".to_string(),
        }
    }

    fn app(id: &str, name: &str) -> AppAsset {
        AppAsset {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("the {name} app"),
        }
    }

    fn task(id: &str, name: &str, app_id: &str) -> TaskAsset {
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

    fn sample_apps() -> Vec<AppAsset> {
        vec![app("app-1", "Orders"), app("app-2", "Billing")]
    }

    fn sample_tasks() -> Vec<TaskAsset> {
        vec![
            task("task-1", "sync orders", "app-1"),
            task("task-2", "sync invoices", "app-2"),
        ]
    }

    fn write_to_vec(apps: &[AppAsset], tasks: &[TaskAsset]) -> (Manifest, Vec<u8>) {
        let mut out = Cursor::new(Vec::new());
        let manifest =
            write_package(&mut out, source(), apps, tasks, created_at()).expect("package written");
        (manifest, out.into_inner())
    }

    fn sample_package() -> Vec<u8> {
        write_to_vec(&sample_apps(), &sample_tasks()).1
    }

    fn read(bytes: &[u8], limits: &PackageLimits) -> Result<Package, PackageError> {
        read_package_from(Cursor::new(bytes), limits)
    }

    /// Reads `bytes`, expects the failure `code`, and checks the message fits `error_details`.
    fn rejected(bytes: &[u8], limits: &PackageLimits, code: &str) -> PackageError {
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
    fn unpack(bytes: &[u8]) -> Entries {
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
    fn pack(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(name.as_str(), options)
                .expect("entry started");
            zip.write_all(data).expect("entry written");
        }
        zip.finish().expect("zip finished").into_inner()
    }

    fn named(name: &str, data: &[u8]) -> (String, Vec<u8>) {
        (name.to_string(), data.to_vec())
    }

    fn position(entries: &Entries, name: &str) -> usize {
        entries
            .iter()
            .position(|(n, _)| n == name)
            .expect("entry present")
    }

    fn manifest_of(entries: &Entries) -> Value {
        serde_json::from_slice(&entries[position(entries, MANIFEST_FILE)].1).expect("JSON")
    }

    fn set_manifest(entries: &mut Entries, manifest: &Value) {
        let at = position(entries, MANIFEST_FILE);
        entries[at].1 = serde_json::to_vec(manifest).expect("JSON");
    }

    /// Replaces the content of asset file `file` and the manifest's checksum of it.
    fn set_asset(entries: &mut Entries, file: &str, content: &[u8]) {
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
    fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
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
    fn patch_declared_size(bytes: &mut [u8], name: &str, size: u32) {
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

    #[test]
    fn round_trip_reads_back_what_was_written() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("export.zip");
        let file = File::create(&path).expect("file created");
        let manifest = write_package(
            file,
            source(),
            &sample_apps(),
            &sample_tasks(),
            created_at(),
        )
        .expect("package written");

        let package = read_package(&path, &PackageLimits::default()).expect("package read");

        assert_eq!(package.manifest, manifest);
        assert_eq!(package.apps, sample_apps());
        assert_eq!(package.tasks, sample_tasks());
        assert_eq!(manifest.format_version, FORMAT_VERSION);
        assert_eq!(manifest.created_at, created_at());
        assert_eq!(manifest.apps[0].file, "apps/app-1.json");
        assert_eq!(manifest.tasks[1].file, "tasks/task-2.json");
    }

    #[test]
    fn manifest_is_the_first_entry_and_output_is_deterministic() {
        let first = sample_package();
        assert_eq!(first, sample_package());
        assert_eq!(unpack(&first)[0].0, MANIFEST_FILE);
    }

    #[test]
    fn unsafe_ids_get_safe_unique_file_names() {
        let apps = vec![
            app("../../etc/passwd", "a"),
            app("with space", "b"),
            app("Dup", "c"),
            app("dup", "d"),
            app("0004", "e"),
            app(&"x".repeat(65), "f"),
        ];
        let tasks = vec![task("C:\\evil", "t", "dup")];
        let (manifest, bytes) = write_to_vec(&apps, &tasks);

        let files: Vec<&str> = manifest.apps.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "apps/0000.asset.json",
                "apps/0001.asset.json",
                "apps/Dup.json",
                "apps/0003.asset.json",
                "apps/0004.json",
                "apps/0005.asset.json",
            ]
        );
        assert_eq!(manifest.tasks[0].file, "tasks/0000.asset.json");
        let package = read(&bytes, &PackageLimits::default()).expect("package read");
        assert_eq!(package.apps, apps);
        assert_eq!(package.tasks, tasks);
    }

    #[test]
    fn writer_refuses_assets_the_reader_would_refuse() {
        let mut out = Cursor::new(Vec::new());
        let orphan = [task("t1", "orphan", "no-such-app")];
        let err = write_package(&mut out, source(), &sample_apps(), &orphan, created_at())
            .expect_err("an orphan task is refused");
        assert_eq!(err.code(), "ROMA.10035");
        assert!(err.to_string().contains("no-such-app"), "{err}");

        let twins = [app("a", "same"), app("b", "same")];
        let err = write_package(&mut out, source(), &twins, &[], created_at())
            .expect_err("two apps of one name are refused");
        assert_eq!(err.code(), "ROMA.10035");

        let many: Vec<AppAsset> = (0..101)
            .map(|i| app(&format!("a{i}"), &format!("n{i}")))
            .collect();
        let err = write_package(&mut out, source(), &many, &[], created_at())
            .expect_err("101 assets are refused");
        assert_eq!(err.code(), "ROMA.10036");
    }

    #[test]
    fn an_index_holds_no_task_settings_and_the_feed_reads_them_back() {
        use crate::service::store::TaskFeed;
        let (_, bytes) = write_to_vec(&sample_apps(), &sample_tasks());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.zip");
        std::fs::write(&path, &bytes).unwrap();
        let limits = PackageLimits::default();
        let index = index_package(&path, &limits).unwrap();
        let full = read_package(&path, &limits).unwrap();
        assert_eq!(index.apps, full.apps);
        assert_eq!(
            index.tasks,
            full.tasks.iter().map(TaskHead::from).collect::<Vec<_>>()
        );
        let mut feed = PackageTasks::open(&path, &index, &limits).unwrap();
        for (i, task) in full.tasks.iter().enumerate() {
            assert_eq!(&feed.task(i).unwrap(), task);
        }
        // A file changed between the check and the import is refused, not imported.
        let mut other = sample_tasks();
        other[0].source = serde_json::json!({"changed": true});
        let (_, changed) = write_to_vec(&sample_apps(), &other);
        std::fs::write(&path, &changed).unwrap();
        let mut feed = PackageTasks::open(&path, &index, &limits).unwrap();
        assert!(feed.task(0).is_err());
    }

    #[test]
    fn not_a_zip_is_corrupt() {
        let bytes = b"this is plain text, not a zip archive\n".repeat(10);
        rejected(&bytes, &PackageLimits::default(), "ROMA.10011");
        rejected(&[], &PackageLimits::default(), "ROMA.10011");
    }

    #[test]
    fn truncated_package_is_corrupt() {
        let bytes = sample_package();
        let err = rejected(
            &bytes[..bytes.len() / 2],
            &PackageLimits::default(),
            "ROMA.10011",
        );
        assert!(matches!(err, PackageError::Corrupt(_)));
    }

    #[test]
    fn damaged_entry_data_is_corrupt() {
        let mut bytes = sample_package();
        let (start, len) = {
            let mut zip = ZipArchive::new(Cursor::new(&bytes)).expect("a zip");
            let file = zip.by_name("tasks/task-1.json").expect("the entry");
            (
                file.data_start().expect("data start"),
                file.compressed_size(),
            )
        };
        let at = usize::try_from(start + len / 2).expect("small offset");
        bytes[at] ^= 0x55;
        bytes[at + 1] ^= 0xaa;
        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10011");
        assert!(err.to_string().contains("tasks/task-1.json"), "{err}");
    }

    #[test]
    fn entry_longer_than_its_declared_size_is_corrupt() {
        let mut bytes = sample_package();
        patch_declared_size(&mut bytes, "apps/app-1.json", 10);
        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10011");
        assert!(err.to_string().contains("apps/app-1.json"), "{err}");
    }

    #[test]
    fn unsafe_entry_names_are_refused() {
        let long = "a".repeat(300);
        let cases: [(&str, &str); 10] = [
            ("tasks/../../etc/passwd", "path escapes the package"),
            ("/etc/passwd", "absolute path"),
            ("C:\\windows\\x.json", "absolute path"),
            ("C:/windows/x.json", "absolute path"),
            ("\\\\server\\share\\x", "absolute path"),
            ("apps\\a.json", "name contains a backslash"),
            ("apps/a\0.json", "name contains NUL or a control character"),
            ("apps/./a.json", "path has an empty or `.` component"),
            ("apps//a.json", "path has an empty or `.` component"),
            (&long, "name longer than 255 bytes"),
        ];
        for (hostile, reason) in cases {
            // The writer refuses some of these names, so write a placeholder and patch it.
            let placeholder = "Q".repeat(hostile.len());
            let mut bytes = pack(&[named(&placeholder, b"{}")]);
            patch(&mut bytes, placeholder.as_bytes(), hostile.as_bytes());

            let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10030");
            match &err {
                PackageError::UnsafeEntry { reason: r, .. } => {
                    assert_eq!(*r, reason, "{hostile:?}")
                }
                other => panic!("{hostile:?}: unexpected {other}"),
            }
        }
        let mut bytes = pack(&[named("tasks/QQQQQQQQQQQQQQQQ", b"{}")]);
        patch(
            &mut bytes,
            b"tasks/QQQQQQQQQQQQQQQQ",
            b"tasks/../../etc/passwd",
        );
        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10030");
        assert_eq!(
            err.to_string(),
            "entry `tasks/../../etc/passwd`: path escapes the package"
        );
    }

    #[test]
    fn symlink_entry_is_refused() {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.add_symlink(
            "apps/app-1.json",
            "/etc/passwd",
            SimpleFileOptions::default(),
        )
        .expect("symlink written");
        let bytes = zip.finish().expect("zip finished").into_inner();

        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10030");
        assert_eq!(err.to_string(), "entry `apps/app-1.json`: symbolic link");
    }

    #[test]
    fn too_many_entries_exceed_the_limit() {
        let entries: Entries = (0..5)
            .map(|i| named(&format!("apps/{i}.json"), b"{}"))
            .collect();
        let limits = PackageLimits {
            max_entries: 4,
            ..PackageLimits::default()
        };
        let err = rejected(&pack(&entries), &limits, "ROMA.10031");
        assert_eq!(err.to_string(), "package has 5 entries, limit 4");
    }

    #[test]
    fn oversized_entry_exceeds_the_limit() {
        let limits = PackageLimits {
            max_entry_bytes: 1000,
            ..PackageLimits::default()
        };
        let bytes = pack(&[named("apps/big.json", &[b' '; 1001])]);
        let err = rejected(&bytes, &limits, "ROMA.10031");
        assert!(err.to_string().contains("apps/big.json"), "{err}");
    }

    #[test]
    fn declared_size_over_the_limit_is_refused_before_reading() {
        let mut bytes = sample_package();
        patch_declared_size(&mut bytes, "apps/app-1.json", 100 * 1024 * 1024);
        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10031");
        assert!(
            err.to_string().contains("declares 104857600 bytes"),
            "{err}"
        );
    }

    #[test]
    fn total_size_over_the_limit_is_refused() {
        let limits = PackageLimits {
            max_entry_bytes: 1000,
            max_total_bytes: 1500,
            ..PackageLimits::default()
        };
        let entries: Entries = (0..3)
            .map(|i| named(&format!("apps/{i}.json"), &[b' '; 600]))
            .collect();
        let err = rejected(&pack(&entries), &limits, "ROMA.10031");
        assert!(
            err.to_string().contains("1500 bytes uncompressed in total"),
            "{err}"
        );
    }

    #[test]
    fn zip_bomb_is_refused_by_its_ratio() {
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let bytes = pack(&[named("apps/bomb.json", &zeros)]);
        assert!(
            bytes.len() < 100 * 1024,
            "the bomb compresses to {} bytes",
            bytes.len()
        );
        let limits = PackageLimits {
            max_entry_bytes: 64 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            ..PackageLimits::default()
        };
        let err = rejected(&bytes, &limits, "ROMA.10031");
        assert_eq!(
            err.to_string(),
            "entry `apps/bomb.json`: compression ratio over 200 (zip bomb?)"
        );
    }

    #[test]
    fn capped_reader_counts_actual_bytes_not_declared_ones() {
        let limits = PackageLimits {
            max_entry_bytes: 1024 * 1024,
            max_ratio: u64::MAX,
            ..PackageLimits::default()
        };
        // An endless entry: only counting what comes out can stop it.
        let mut total = 0;
        let err = read_capped(
            std::io::repeat(b' '),
            "apps/x.json",
            10,
            &limits,
            &mut total,
        )
        .expect_err("an endless entry is stopped");
        assert_eq!(err.code(), "ROMA.10031");
        assert!(
            total <= limits.max_entry_bytes + 16 * 1024,
            "read {total} bytes"
        );

        let limits = PackageLimits::default();
        let mut total = 0;
        let err = read_capped(std::io::repeat(0), "apps/x.json", 100, &limits, &mut total)
            .expect_err("a 200-fold expansion of 100 bytes is stopped");
        assert!(
            err.to_string().contains("compression ratio over 200"),
            "{err}"
        );
        assert!(
            total <= 100 * 200 + RATIO_CHECK_MIN_BYTES + 16 * 1024,
            "read {total} bytes"
        );

        let limits = PackageLimits {
            max_total_bytes: 1000,
            ..PackageLimits::default()
        };
        let mut total = 900;
        let err = read_capped(&[b' '; 200][..], "apps/x.json", 200, &limits, &mut total)
            .expect_err("the package total is enforced across entries");
        assert!(err.to_string().contains("in total"), "{err}");
    }

    #[test]
    fn zip_crate_keeps_one_of_two_entries_with_one_name_and_flags_it() {
        // What our duplicate detection relies on: zip 9 keys entries by name, so the archive
        // shows one entry, and only `has_duplicate_names` tells that there were two.
        let mut bytes = pack(&[
            named("apps/a.json", b"first"),
            named("apps/b.json", b"second"),
        ]);
        patch(&mut bytes, b"apps/b.json", b"apps/a.json");
        let zip = ZipArchive::new(Cursor::new(&bytes)).expect("zip opens it");
        assert_eq!(zip.len(), 1);
        assert!(zip.has_duplicate_names());
    }

    #[test]
    fn duplicate_entry_names_are_refused() {
        let mut entries = unpack(&sample_package());
        entries.push(named("apps/zzz-1.json", br#"{"id":"app-1","name":"Evil"}"#));
        let mut bytes = pack(&entries);
        patch(&mut bytes, b"apps/zzz-1.json", b"apps/app-1.json");

        let err = rejected(&bytes, &PackageLimits::default(), "ROMA.10032");
        assert_eq!(
            err.to_string(),
            "entry `apps/app-1.json` appears more than once"
        );
    }

    #[test]
    fn tampered_asset_fails_its_checksum() {
        let mut entries = unpack(&sample_package());
        let at = position(&entries, "apps/app-2.json");
        entries[at].1 = serde_json::to_vec(&app("app-2", "Billing (changed)")).expect("JSON");

        let err = rejected(&pack(&entries), &PackageLimits::default(), "ROMA.10033");
        assert!(
            err.to_string()
                .starts_with("entry `apps/app-2.json`: sha256 "),
            "{err}"
        );
    }

    #[test]
    fn newer_format_version_is_reported_as_such() {
        let mut entries = unpack(&sample_package());
        let mut manifest = manifest_of(&entries);
        manifest["format_version"] = json!(2);
        manifest["signature"] = json!("a field version 1 does not know");
        set_manifest(&mut entries, &manifest);

        let err = rejected(&pack(&entries), &PackageLimits::default(), "ROMA.10034");
        assert_eq!(
            err.to_string(),
            "manifest.json: format_version 2 is not supported (this reader knows 1)"
        );
    }

    #[test]
    fn too_many_assets_are_refused() {
        let limits = PackageLimits {
            max_assets: 3,
            ..PackageLimits::default()
        };
        let err = rejected(&sample_package(), &limits, "ROMA.10036");
        assert_eq!(
            err.to_string(),
            "package holds 4 apps and tasks, at most 3 are allowed"
        );
    }

    #[test]
    fn inconsistent_packages_are_invalid() {
        type Edit = fn(&mut Entries);
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "manifest missing",
                |e| e.retain(|(n, _)| n != MANIFEST_FILE),
                "manifest.json is missing",
            ),
            (
                "manifest not JSON",
                |e| {
                    let at = position(e, MANIFEST_FILE);
                    e[at].1 = b"format_version = 1".to_vec();
                },
                "manifest.json is not JSON",
            ),
            (
                "manifest with an unknown field",
                |e| {
                    let mut m = manifest_of(e);
                    m["comment"] = json!("hi");
                    set_manifest(e, &m);
                },
                "unknown field `comment`",
            ),
            (
                "manifest without a required field",
                |e| {
                    let mut m = manifest_of(e);
                    m.as_object_mut().expect("object").remove("source");
                    set_manifest(e, &m);
                },
                "missing field `source`",
            ),
            (
                "manifest without format_version",
                |e| {
                    let mut m = manifest_of(e);
                    m.as_object_mut().expect("object").remove("format_version");
                    set_manifest(e, &m);
                },
                "has no format_version",
            ),
            (
                "asset file missing",
                |e| e.retain(|(n, _)| n != "tasks/task-2.json"),
                "manifest lists `tasks/task-2.json`, which is not in the package",
            ),
            (
                "asset file listed twice",
                |e| {
                    let mut m = manifest_of(e);
                    m["tasks"][1]["file"] = m["tasks"][0]["file"].clone();
                    set_manifest(e, &m);
                },
                "`tasks/task-1.json` is listed twice",
            ),
            (
                "app listed as a task file",
                |e| {
                    let mut m = manifest_of(e);
                    m["apps"][0]["file"] = json!("tasks/task-1.json");
                    set_manifest(e, &m);
                },
                "file `tasks/task-1.json` is not apps/<name>.json",
            ),
            (
                "asset not JSON",
                |e| set_asset(e, "apps/app-1.json", b"{\"id\": "),
                "entry `apps/app-1.json`: not a valid app",
            ),
            (
                "asset with an unknown field",
                |e| {
                    let content = br#"{"id":"app-1","name":"Orders","colour":"red"}"#;
                    set_asset(e, "apps/app-1.json", content);
                },
                "unknown field `colour`",
            ),
            (
                "asset id differing from the manifest",
                |e| {
                    let content = serde_json::to_vec(&app("app-9", "Orders")).expect("JSON");
                    set_asset(e, "apps/app-1.json", &content);
                },
                "id `app-9` differs from the manifest's `app-1`",
            ),
            (
                "task of an app not in the package",
                |e| {
                    let content =
                        serde_json::to_vec(&task("task-1", "sync orders", "app-7")).expect("JSON");
                    set_asset(e, "tasks/task-1.json", &content);
                },
                "task `task-1`: its app `app-7` is not in the package",
            ),
            (
                "entry not in the manifest",
                |e| e.push(named("apps/stowaway.json", b"{}")),
                "entry `apps/stowaway.json` is not listed in the manifest",
            ),
            (
                "two apps with one name",
                |e| {
                    let mut m = manifest_of(e);
                    m["apps"][1]["name"] = m["apps"][0]["name"].clone();
                    set_manifest(e, &m);
                },
                "two apps have the name `Orders`",
            ),
            (
                "two tasks with one id",
                |e| {
                    let mut m = manifest_of(e);
                    m["tasks"][1]["id"] = m["tasks"][0]["id"].clone();
                    set_manifest(e, &m);
                },
                "two tasks have the id `task-1`",
            ),
        ];
        for (case, edit, expected) in cases {
            let mut entries = unpack(&sample_package());
            edit(&mut entries);
            let err = read(&pack(&entries), &PackageLimits::default()).expect_err(case);
            assert!(matches!(err, PackageError::Invalid(_)), "{case}: {err}");
            assert_eq!(err.code(), "ROMA.10035", "{case}");
            let message = err.to_string();
            assert!(message.contains(expected), "{case}: {message}");
            assert!(message.chars().count() <= 128, "{case}: {message}");
        }
    }

    #[test]
    fn directory_entries_of_the_layout_are_tolerated() {
        let mut entries = unpack(&sample_package());
        entries.insert(1, named("apps/", b""));
        entries.insert(1, named("tasks/", b""));
        let package = read(&pack(&entries), &PackageLimits::default()).expect("package read");
        assert_eq!(package.apps, sample_apps());
    }

    #[test]
    fn manifest_schema_describes_the_manifest() {
        let schema = manifest_schema();
        assert_eq!(schema["title"], "Manifest");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("a required list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in ["format_version", "created_at", "source", "apps", "tasks"] {
            assert!(required.contains(&field), "{field} is required");
        }
        assert_eq!(schema["properties"]["created_at"]["format"], "date-time");
        let entry = &schema["definitions"]["ManifestEntry"];
        assert_eq!(entry["properties"]["sha256"]["pattern"], "^[0-9a-f]{64}$");
        assert_eq!(manifest_schema(), schema, "deterministic");
    }

    #[test]
    fn huge_central_directory_is_refused_before_it_is_indexed() {
        let entries: Entries = (0..2000)
            .map(|i| named(&format!("e/{i:04}"), b""))
            .collect();
        let limits = PackageLimits {
            max_entries: 4,
            ..PackageLimits::default()
        };
        let err = rejected(&pack(&entries), &limits, "ROMA.10031");
        assert!(err.to_string().contains("central directory over"), "{err}");
    }

    #[test]
    fn small_repetitive_files_are_not_taken_for_bombs() {
        let mut wordy = app("app-1", "Orders");
        wordy.description = "a".repeat(60 * 1024);
        let (_, bytes) = write_to_vec(&[wordy.clone()], &[]);
        let package = read(&bytes, &PackageLimits::default()).expect("package read");
        assert_eq!(package.apps, [wordy]);
    }
}
