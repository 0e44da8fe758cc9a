//! Writing a package: what an export leaves for download. Deterministic (equal inputs give
//! equal bytes) and checked as the reader checks, so whatever this writes the reader reads back.

use std::collections::HashSet;
use std::io::{Seek, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::error::PackageError;
use super::manifest::{
    APPS_DIR, FORMAT_VERSION, MANIFEST_FILE, Manifest, ManifestEntry, ManifestSource, TASKS_DIR,
    sha256_hex,
};
use super::{PackageLimits, check_app_refs, check_unique};
use crate::service::model::{AppAsset, TaskAsset, TaskHead};

/// Ids of at most this many characters name their file; longer ones get an index-based name.
const MAX_ID_FILE_CHARS: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{PackageLimits, read_package};
    use super::*;
    use std::fs::File;
    use std::io::Cursor;

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
}
