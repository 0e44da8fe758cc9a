//! Reading a package, treating it as hostile. It never extracts anything to disk and never
//! trusts a size the zip declares: it reads one entry at a time through a reader that counts the
//! bytes actually decompressed and stops at the [`PackageLimits`]. It rejects unsafe names,
//! links, duplicate names, any entry the manifest does not account for and assets that
//! contradict one another, and reports each failure as a [`PackageError`] with a stable code.
//! This is the one place a package is checked.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zip::ZipArchive;

use super::error::{
    MESSAGE_NAME_CHARS, PackageError, clip, corrupt, invalid, limit, show, unsafe_entry,
};
use super::manifest::{
    APPS_DIR, FORMAT_VERSION, MANIFEST_FILE, Manifest, ManifestEntry, TASKS_DIR, sha256_hex,
};
use super::{Package, PackageLimits, check_app_refs, check_unique};
use crate::service::model::{AppAsset, FeedError, TaskAsset, TaskFeed, TaskHead};

/// Entries at most this large (uncompressed) are exempt from the ratio check: a tiny JSON file
/// of repeated spaces compresses very well without being a bomb.
pub const RATIO_CHECK_MIN_BYTES: u64 = 64 * 1024;

/// Longest entry name accepted, in bytes (the usual file-name limit of file systems).
const MAX_NAME_BYTES: usize = 255;

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
/// file (checksum, then content), then the assets against one another. Entries are read one at
/// a time and at most [`PackageLimits::max_entry_bytes`] of one is held in memory.
pub fn read_package_from<R: Read + Seek>(
    reader: R,
    limits: &PackageLimits,
) -> Result<Package, PackageError> {
    let mut tasks = Vec::new();
    let checked = read_checked(reader, limits, |task| tasks.push(task))?;
    Ok(Package {
        manifest: checked.manifest,
        apps: checked.apps,
        tasks,
    })
}

/// A package checked in full and still open, holding everything but the tasks' settings, which
/// [`PackageTasks`] reads again one at a time: for importing large packages.
pub struct IndexedPackage<R> {
    /// The manifest.
    pub manifest: Manifest,
    /// The applications (small: id, name, description).
    pub apps: Vec<AppAsset>,
    /// The tasks: their heads now, their settings on demand.
    pub tasks: PackageTasks<R>,
}

/// Checks the package in `reader` exactly as [`read_package_from`] does, but keeps only one
/// task's settings in memory at a time, and keeps the package open for its tasks to be read
/// again while the import is applied.
pub fn index_package<R: Read + Seek>(
    reader: R,
    limits: &PackageLimits,
) -> Result<IndexedPackage<R>, PackageError> {
    let checked = read_checked(reader, limits, drop)?;
    Ok(IndexedPackage {
        tasks: PackageTasks {
            zip: checked.zip,
            names: checked.names,
            entries: checked.manifest.tasks.clone(),
            heads: checked.heads,
            limits: limits.clone(),
        },
        manifest: checked.manifest,
        apps: checked.apps,
    })
}

/// The tasks of an indexed package, read one at a time from its zip. Each entry's checksum is
/// checked again, so a file changed since [`index_package`] is refused, not imported.
pub struct PackageTasks<R> {
    zip: ZipArchive<Budgeted<R>>,
    names: HashMap<String, usize>,
    entries: Vec<ManifestEntry>,
    heads: Vec<TaskHead>,
    limits: PackageLimits,
}

impl<R: Read + Seek> TaskFeed for PackageTasks<R> {
    fn heads(&self) -> &[TaskHead] {
        &self.heads
    }

    fn task(&mut self, index: usize) -> Result<TaskAsset, FeedError> {
        let entry = self
            .entries
            .get(index)
            .ok_or_else(|| format!("task {index} of the package"))?;
        let mut total = 0;
        let task: TaskAsset = read_asset(
            &mut self.zip,
            &self.names,
            entry,
            "task",
            &self.limits,
            &mut total,
        )?;
        check_matches(entry, &task.id, &task.name)?;
        Ok(task)
    }
}

/// A package that passed every check, still open.
struct Checked<R> {
    manifest: Manifest,
    apps: Vec<AppAsset>,
    heads: Vec<TaskHead>,
    zip: ZipArchive<Budgeted<R>>,
    /// Each entry's index in `zip`, by name.
    names: HashMap<String, usize>,
}

/// Reads and checks a package; hands each task to `on_task` once checked (the caller keeps it or
/// not) and returns the package, still open.
fn read_checked<R: Read + Seek>(
    reader: R,
    limits: &PackageLimits,
    mut on_task: impl FnMut(TaskAsset),
) -> Result<Checked<R>, PackageError> {
    // Indexing the central directory costs memory per entry before `len()` can be checked:
    // bound the bytes it may read to the archive's tail plus 1 KiB per allowed entry.
    let budget = DIRECTORY_TAIL_BYTES.saturating_add(
        u64::try_from(limits.max_entries)
            .unwrap_or(u64::MAX)
            .saturating_mul(1024),
    );
    let left = Arc::new(AtomicU64::new(budget));
    let budgeted = Budgeted {
        inner: reader,
        left: Arc::clone(&left),
    };
    let mut zip = match ZipArchive::new(budgeted) {
        Ok(zip) => zip,
        Err(_) if left.load(Ordering::Relaxed) == 0 => {
            return Err(limit(format!(
                "package: central directory over {budget} bytes, limit for {} entries",
                limits.max_entries
            )));
        }
        Err(e) => return Err(corrupt(None, &e)),
    };
    left.store(u64::MAX, Ordering::Relaxed);
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

    Ok(Checked {
        manifest,
        apps,
        heads: tasks,
        zip,
        names,
    })
}

/// Bytes of the archive's end that locating the central directory may read: a comment of up to
/// 64 KiB, the end records, and slack for the zip crate reading in 1 KiB blocks.
const DIRECTORY_TAIL_BYTES: u64 = 72 * 1024;

/// A reader that fails once it has yielded more than `left` bytes (shared, so the caller can
/// lift the cap once the zip's directory is indexed).
struct Budgeted<R> {
    inner: R,
    left: Arc<AtomicU64>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Only this reader spends the budget (one thread at a time): load, then store.
        match self.left.load(Ordering::Relaxed).checked_sub(n as u64) {
            Some(left) => {
                self.left.store(left, Ordering::Relaxed);
                Ok(n)
            }
            None => {
                self.left.store(0, Ordering::Relaxed);
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
    use super::super::testing::*;
    use super::*;
    use serde_json::json;
    use std::io::Cursor;
    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    #[test]
    fn an_index_holds_no_task_settings_and_the_feed_reads_them_back() {
        let (_, bytes) = write_to_vec(&sample_apps(), &sample_tasks());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.zip");
        std::fs::write(&path, &bytes).unwrap();
        let limits = PackageLimits::default();
        let open = || BufReader::new(File::open(&path).unwrap());
        let mut index = index_package(open(), &limits).unwrap();
        let full = read_package(&path, &limits).unwrap();
        assert_eq!(index.apps, full.apps);
        assert_eq!(
            index.tasks.heads(),
            full.tasks.iter().map(TaskHead::from).collect::<Vec<_>>()
        );
        for (i, task) in full.tasks.iter().enumerate() {
            assert_eq!(&index.tasks.task(i).unwrap(), task);
        }
        // A file changed between the check and the import is refused, not imported.
        let mut other = sample_tasks();
        other[0].source = serde_json::json!({"changed": true});
        let (_, changed) = write_to_vec(&sample_apps(), &other);
        std::fs::write(&path, &changed).unwrap();
        assert!(index.tasks.task(0).is_err());
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
