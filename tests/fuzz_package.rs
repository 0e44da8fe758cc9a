//! Property tests (fuzzing on stable Rust) of the package reader, which reads what strangers
//! upload.
//!
//! Oracles, not just "did not panic":
//! - every input is answered: a package, or a [`PackageError`] whose code is one of the
//!   document's (`ROMA.…`) and whose message fits the 128 characters of `error_details`;
//! - whatever the reader accepts, the writer writes again and the reader reads back equal (so an
//!   accepted package is a consistent one, not a half-checked one);
//! - memory is bounded: an entry that expands beyond `max_entry_bytes`, or entries beyond
//!   `max_total_bytes`, are refused, whatever sizes the zip declares; and this test binary's
//!   allocator counts the bytes each read holds at its peak, which stays under [`memory_bound`]
//!   even for a zip whose headers declare gigabytes.
//!
//! Three kinds of input: bytes (arbitrary, and `PK`-prefixed), a valid package changed at the
//! byte level (flips, truncation), and zips built entry by entry from hostile names, manifests
//! and contents. `PROPTEST_CASES` sets the cases per property; failures are kept in
//! `fuzz_package.proptest-regressions` beside this file and replayed first by `cargo test`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Write};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use roma_assets::service::model::{AppAsset, TaskAsset};
use roma_assets::service::package::{
    ManifestSource, Package, PackageError, PackageLimits, read_package_from, write_package,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Limits small enough that the fuzzer reaches them with small inputs.
fn limits() -> PackageLimits {
    PackageLimits {
        max_entries: 16,
        max_entry_bytes: 64 * 1024,
        max_total_bytes: 160 * 1024,
        max_ratio: 200,
        max_assets: 8,
    }
}

fn source() -> ManifestSource {
    ManifestSource {
        project_id: "p1".into(),
        instance_id: "i1".into(),
    }
}

fn created_at() -> chrono::DateTime<chrono::Utc> {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

/// The system allocator, counting the bytes each thread holds and the most it held: proptest
/// runs a property's cases on one thread, so a read's peak is that thread's.
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn count(grown: usize, shrunk: usize) {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    let _ = HELD.try_with(|held| {
        let now = (held.get() + grown).saturating_sub(shrunk);
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed on to `System` unchanged; the counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size(), 0);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(0, layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size(), 0);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size, layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `read` allocated beyond what the thread held before it, at the most.
fn peak_of<T>(read: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let value = read();
    (value, PEAK.with(Cell::get) - before)
}

/// The most a read of `input_len` bytes may hold: the input's own size a few times over (the
/// zip's directory, names), the package it returns, one entry being read, and a fixed margin.
fn memory_bound(input_len: usize) -> usize {
    let limits = limits();
    4 * input_len
        + 2 * limits.max_total_bytes as usize
        + limits.max_entry_bytes as usize
        + 512 * 1024
}

/// Reads `bytes` and checks the oracles every answer must meet; returns the package if read.
fn answered(bytes: &[u8]) -> Result<Option<Package>, TestCaseError> {
    let (read, peak) = peak_of(|| read_package_from(Cursor::new(bytes), &limits()));
    prop_assert!(
        peak <= memory_bound(bytes.len()),
        "reading {} bytes held {} bytes",
        bytes.len(),
        peak
    );
    match read {
        Ok(package) => {
            // What was accepted writes again and reads back equal.
            let mut out = Cursor::new(Vec::new());
            write_package(
                &mut out,
                package.manifest.source.clone(),
                &package.apps,
                &package.tasks,
                package.manifest.created_at,
            )
            .map_err(|e| TestCaseError::fail(format!("accepted but not writable: {e}")))?;
            let again = read_package_from(Cursor::new(out.into_inner()), &limits())
                .map_err(|e| TestCaseError::fail(format!("rewritten but not readable: {e}")))?;
            prop_assert_eq!(&again.apps, &package.apps);
            prop_assert_eq!(&again.tasks, &package.tasks);
            Ok(Some(package))
        }
        Err(error) => {
            check_error(&error)?;
            Ok(None)
        }
    }
}

fn check_error(error: &PackageError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(
        error.code().starts_with("ROMA."),
        "{}: {}",
        error.code(),
        message
    );
    prop_assert!(!message.is_empty());
    prop_assert!(message.chars().count() <= 128, "too long: {}", message);
    Ok(())
}

fn assets() -> impl Strategy<Value = (Vec<AppAsset>, Vec<TaskAsset>)> {
    (1usize..4, 0usize..4, "[ -~]{0,30}").prop_map(|(apps, tasks, text)| {
        let apps: Vec<AppAsset> = (0..apps)
            .map(|i| AppAsset {
                id: format!("app-{i}"),
                name: format!("App {i}"),
                description: text.clone(),
            })
            .collect();
        let tasks = (0..tasks)
            .map(|i| TaskAsset {
                id: format!("task-{i}"),
                name: format!("Task {i}"),
                app_id: format!("app-{}", i % apps.len()),
                task_type: Default::default(),
                task_tag: String::new(),
                source: json!({"table": text}),
                target: json!({"batch": i}),
            })
            .collect();
        (apps, tasks)
    })
}

/// A package written by the writer from generated assets, or one of the corpus's real packages
/// (tests/fuzz/corpus/packages: exported by the reference server, downloaded by the official
/// SDK).
fn valid_package() -> impl Strategy<Value = Vec<u8>> {
    let written = assets().prop_map(|(apps, tasks)| {
        let mut out = Cursor::new(Vec::new());
        write_package(&mut out, source(), &apps, &tasks, created_at()).unwrap();
        out.into_inner()
    });
    prop_oneof![3 => written, 1 => prop::sample::select(corpus_packages())]
}

fn corpus_packages() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/packages");
    let mut packages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    packages.sort();
    assert!(!packages.is_empty(), "no packages in {}", dir.display());
    packages.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// One entry of a zip built by hand.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    content: Vec<u8>,
    deflate: bool,
}

fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("manifest.json".to_string()),
        Just("apps/app-0.json".to_string()),
        Just("tasks/task-0.json".to_string()),
        Just("../escape.json".to_string()),
        Just("/absolute.json".to_string()),
        Just("apps\\windows.json".to_string()),
        Just("apps/".to_string()),
        Just("apps/./app-0.json".to_string()),
        Just("C:/drive.json".to_string()),
        "(apps|tasks)/[A-Za-z0-9_.-]{1,12}\\.json",
        "\\PC{1,40}",
    ]
}

fn app_json(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "name": "App", "description": ""})).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn entry_content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // An app file, and a manifest that lists it correctly or with hostile fields.
        Just(app_json("app-0")),
        (
            prop_oneof![
                Just(json!(1)),
                Just(json!(2)),
                Just(json!("1")),
                Just(json!(-1))
            ],
            prop_oneof![
                Just("apps/app-0.json".to_string()),
                Just("../apps/app-0.json".to_string()),
                "[ -~]{0,20}"
            ],
            prop_oneof![
                Just(sha256(&app_json("app-0"))),
                "[0-9a-f]{64}",
                "[ -~]{0,10}"
            ],
            prop::bool::ANY,
        )
            .prop_map(|(version, file, sha, extra)| {
                let mut manifest = json!({
                    "format_version": version,
                    "created_at": "2026-12-01T12:00:00Z",
                    "source": {"project_id": "p1", "instance_id": "i1"},
                    "apps": [{"id": "app-0", "name": "App", "file": file, "sha256": sha}],
                    "tasks": [],
                });
                if extra {
                    manifest["unexpected"] = json!(true);
                }
                serde_json::to_vec(&manifest).unwrap()
            }),
        prop::collection::vec(any::<u8>(), 0..256),
        // Highly compressible runs, some beyond max_entry_bytes once inflated.
        (0usize..200_000).prop_map(|n| vec![b' '; n]),
    ]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        (entry_name(), entry_content(), prop::bool::ANY).prop_map(|(name, content, deflate)| {
            Entry {
                name,
                content,
                deflate,
            }
        }),
        0..6,
    )
}

fn zip_of(entries: &[Entry]) -> Option<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        let method = if entry.deflate {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(false);
        // The writer refuses some names (duplicates): such zips are built by byte mutation.
        zip.start_file(entry.name.as_str(), options).ok()?;
        zip.write_all(&entry.content).ok()?;
    }
    Some(zip.finish().ok()?.into_inner())
}

/// A size a header may claim: gigabytes, the ZIP64 marker, near the limits, or anything.
fn declared_size() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(u32::MAX),
        Just(0x4000_0000),
        Just(0xFFFF_FFFE),
        Just(0),
        (0u32..200_000),
        any::<u32>(),
    ]
}

/// The offsets of the zip's local (`false`) and central (`true`) file headers, found by their
/// signatures.
fn header_offsets(zip: &[u8]) -> Vec<(usize, bool)> {
    zip.windows(4)
        .enumerate()
        .filter_map(|(at, word)| match word {
            b"PK\x03\x04" if at + 30 <= zip.len() => Some((at, false)),
            b"PK\x01\x02" if at + 46 <= zip.len() => Some((at, true)),
            _ => None,
        })
        .collect()
}

proptest! {
    // Failures are kept beside this file (`<name>.proptest-regressions`), replayed first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_are_answered(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(answered(&bytes)?.is_none());
        let mut zipish = b"PK\x03\x04".to_vec();
        zipish.extend_from_slice(&bytes);
        prop_assert!(answered(&zipish)?.is_none());
    }

    #[test]
    fn a_valid_package_changed_byte_by_byte_is_answered(
        package in valid_package(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        prop_assert!(answered(&package)?.is_some(), "the unchanged package must be read");
        let mut changed = package.clone();
        for (at, byte) in &flips {
            let i = at.index(changed.len());
            changed[i] ^= byte | 1;
        }
        answered(&changed)?;
        if let Some(cut) = cut {
            answered(&package[..cut.index(package.len())])?;
        }
    }

    /// Sizes in the zip's headers are claims: a valid package whose local and central headers
    /// declare other sizes (gigabytes, the ZIP64 marker, anything) is answered within the memory
    /// bound, and never accepted with an entry declared beyond `max_entry_bytes`.
    #[test]
    fn declared_sizes_are_not_trusted(
        package in valid_package(),
        claims in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<bool>(), declared_size()),
            1..4,
        ),
    ) {
        let mut changed = package.clone();
        let headers = header_offsets(&changed);
        let mut largest_claim = 0u32;
        for (which, compressed, size) in &claims {
            let (at, central) = headers[which.index(headers.len())];
            // Local header: compressed size at 18, uncompressed at 22; central: 20 and 24.
            let field = at + if central { 20 } else { 18 } + if *compressed { 0 } else { 4 };
            changed[field..field + 4].copy_from_slice(&size.to_le_bytes());
            if central && !compressed {
                largest_claim = largest_claim.max(*size);
            }
        }
        if answered(&changed)?.is_some() {
            prop_assert!(
                u64::from(largest_claim) <= limits().max_entry_bytes,
                "accepted an entry declared {} bytes",
                largest_claim
            );
        }
    }

    #[test]
    fn hand_built_zips_are_answered_within_the_limits(entries in entries()) {
        let Some(bytes) = zip_of(&entries) else {
            return Ok(());
        };
        let largest = entries.iter().map(|e| e.content.len() as u64).max().unwrap_or(0);
        let total: u64 = entries.iter().map(|e| e.content.len() as u64).sum();
        if let Some(package) = answered(&bytes)? {
            // Accepted: then nothing in it exceeded a limit.
            prop_assert!(largest <= limits().max_entry_bytes, "{} accepted", largest);
            prop_assert!(total <= limits().max_total_bytes, "{} accepted", total);
            prop_assert!(package.apps.len() + package.tasks.len() <= limits().max_assets);
        }
    }
}

/// The hand-built strategy reaches both answers: a zip of a correct manifest and its app file is
/// read, and the same zip with the app file inflating past `max_entry_bytes` is refused.
#[test]
fn hand_built_zips_reach_acceptance_and_the_size_limit() {
    let manifest = json!({
        "format_version": 1,
        "created_at": "2026-12-01T12:00:00Z",
        "source": {"project_id": "p1", "instance_id": "i1"},
        "apps": [{
            "id": "app-0", "name": "App", "file": "apps/app-0.json",
            "sha256": sha256(&app_json("app-0")),
        }],
        "tasks": [],
    });
    let entry = |name: &str, content: Vec<u8>| Entry {
        name: name.into(),
        content,
        deflate: true,
    };
    let good = zip_of(&[
        entry("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        entry("apps/app-0.json", app_json("app-0")),
    ])
    .unwrap();
    let package = answered(&good)
        .unwrap()
        .expect("a consistent package is read");
    assert_eq!(package.apps[0].id, "app-0");

    let mut large = app_json("app-0");
    large.extend(std::iter::repeat_n(b' ', 100_000));
    let bomb = zip_of(&[
        entry("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        entry("apps/app-0.json", large),
    ])
    .unwrap();
    let error = read_package_from(Cursor::new(bomb), &limits()).unwrap_err();
    assert_eq!(error.code(), "ROMA.10031", "{error}");
}

/// The memory oracle can fail: a read that trusted a declared gigabyte would be seen.
#[test]
fn the_memory_oracle_sees_a_trusted_declaration() {
    let (buffer, peak) = peak_of(|| Vec::<u8>::with_capacity(1 << 30));
    drop(buffer);
    assert!(peak >= 1 << 30, "{peak}");
    assert!(peak > memory_bound(1 << 20));
    // And a real package's read stays far below the bound.
    let mut out = Cursor::new(Vec::new());
    let (apps, tasks) = (
        vec![AppAsset {
            id: "app-0".into(),
            name: "App".into(),
            description: String::new(),
        }],
        Vec::new(),
    );
    write_package(&mut out, source(), &apps, &tasks, created_at()).unwrap();
    let bytes = out.into_inner();
    let (read, peak) = peak_of(|| read_package_from(Cursor::new(&bytes[..]), &limits()));
    read.unwrap();
    assert!(peak < memory_bound(bytes.len()) / 4, "{peak}");
}
