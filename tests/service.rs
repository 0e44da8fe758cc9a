//! The reference server end to end: a real server on 127.0.0.1:0 with a temporary data
//! directory, driven through the generated client. Every error answer is checked for its code
//! and for a `request_id` equal to the `X-Request-Id` header.

mod support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use roma_assets::client::{Client, Error, UploadFile, types};
use roma_assets::service::auth::Credentials;
use roma_assets::service::package::{FORMAT_VERSION, PackageLimits};
use roma_assets::service::{Service, ServiceConfig};
use sha2::Digest;
use support::{ROMA, expect_error, http_client, serve};

const DEMO_TOKEN: &str = "demo-token";
const OTHER_TOKEN: &str = "other-token";
const OTHER_AK: &str = "OTHERPROJECTAK000001";
const OTHER_SK: &str = "other-project-secret-key";

struct Server {
    base: String,
    _dir: Option<tempfile::TempDir>,
}

async fn start_in(dir: &Path, job_min_duration: Duration) -> String {
    let mut credentials = Credentials::default();
    credentials.insert("demo", DEMO_TOKEN);
    credentials.insert("other", OTHER_TOKEN);
    credentials
        .parse_key_spec(&format!("other={OTHER_AK}:{OTHER_SK}"))
        .unwrap();
    let service = Service::open(ServiceConfig {
        data_dir: dir.to_path_buf(),
        credentials,
        package_limits: PackageLimits::default(),
        job_min_duration,
        database_url: None,
        job_lease: roma_assets::service::store::DEFAULT_LEASE,
        blob_store: None,
    })
    .await
    .expect("opening the service");
    service.seed_demo("demo", "demo").await.expect("seeding");
    serve(service.router(64 * 1024 * 1024)).await
}

async fn start() -> Server {
    start_with(Duration::ZERO).await
}

async fn start_with(job_min_duration: Duration) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let base = start_in(dir.path(), job_min_duration).await;
    Server {
        base,
        _dir: Some(dir),
    }
}

fn client(base: &str, token: &str) -> Client {
    Client::new_with_client(
        base,
        http_client(Some(("x-auth-token", token))),
        Default::default(),
    )
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a valid id")
}

/// Polls until the job has ended (at most 10 s).
async fn wait(
    client: &Client,
    project: &str,
    instance: &str,
    job: &str,
) -> types::CheckAssetJobStatusResponse {
    for _ in 0..200 {
        let status = client
            .check_asset_job_status(&id(project), &id(instance), &id(job))
            .await
            .expect("job status")
            .into_inner();
        if status.status != types::CheckAssetJobStatusResponseStatus::Running {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} still running after 10 s");
}

/// The package of an export of the demo instance's `apps` and `tasks`, downloaded.
async fn export_package(client: &Client, apps: &[&str], tasks: &[&str]) -> Vec<u8> {
    let job = export(client, "demo", "demo", apps, tasks).await;
    let status = wait(client, "demo", "demo", &job).await;
    let archive = status.archive_id.expect("a succeeded export's archive");
    download(client, "demo", "demo", &archive).await
}

/// The `apps` and `tasks` of an export or delete request.
fn asset_lists(
    apps: &[&str],
    tasks: &[&str],
) -> (
    Vec<types::AssetExportRequestApps>,
    Vec<types::AssetExportRequestTasks>,
) {
    let apps = apps
        .iter()
        .map(|a| types::AssetExportRequestApps {
            id: Some(a.to_string()),
        })
        .collect();
    let tasks = tasks
        .iter()
        .map(|t| types::AssetExportRequestTasks {
            id: Some(t.to_string()),
        })
        .collect();
    (apps, tasks)
}

async fn export(
    client: &Client,
    project: &str,
    instance: &str,
    apps: &[&str],
    tasks: &[&str],
) -> String {
    let (apps, tasks) = asset_lists(apps, tasks);
    let body = types::AssetExportRequest { apps, tasks };
    let created = client
        .export_asset(&id(project), &id(instance), &body)
        .await
        .expect("export accepted");
    created.into_inner().job_id.expect("a job id").to_string()
}

async fn download(client: &Client, project: &str, instance: &str, archive: &str) -> Vec<u8> {
    let response = client
        .download_asset_archive(&id(project), &id(instance), &id(archive))
        .await
        .expect("download");
    // The archive's length is announced (the official SDK's progress callback reads it).
    let announced: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut stream = response.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(
        bytes.len(),
        announced,
        "Content-Length is the archive's size"
    );
    bytes
}

async fn import(
    client: &Client,
    project: &str,
    instance: &str,
    mode: types::ImportAssetMode,
    prefix: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<String, Error<types::ErrorResp>> {
    let len = bytes.len() as u64;
    let file = UploadFile::from_stream(
        file_name,
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]),
        Some(len),
    );
    let prefix: Option<types::ImportAssetPrefix> = (!prefix.is_empty()).then(|| id(prefix));
    let answer = client
        .import_asset(
            &id(project),
            &id(instance),
            Some(mode),
            prefix.as_ref(),
            file,
        )
        .await?;
    Ok(answer.into_inner().job_id.expect("a job id").to_string())
}

/// (name, id, app_id-or-empty) of every app and task of an instance, plus their timestamps,
/// each list sorted by name.
async fn snapshot(client: &Client, project: &str, instance: &str) -> (Vec<String>, Vec<String>) {
    let apps = client
        .list_apps(
            &id(project),
            &id(instance),
            None,
            None,
            std::num::NonZeroU64::new(500),
            None,
            None,
            None,
            None,
        )
        .await
        .expect("apps")
        .into_inner();
    let tasks = client
        .list_tasks(
            &id(project),
            &id(instance),
            None,
            None,
            std::num::NonZeroU64::new(1000),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
        .await
        .expect("tasks")
        .into_inner();
    assert_eq!(apps.total as usize, apps.apps.len());
    assert_eq!(tasks.total as usize, tasks.entities.len());
    let mut apps: Vec<String> = apps
        .apps
        .iter()
        .map(|a| format!("{} {} {} {}", *a.name, a.id, *a.remark, a.update_time))
        .collect();
    let mut tasks: Vec<String> = tasks
        .entities
        .iter()
        .map(|t| {
            format!(
                "{} {} {} {}",
                *t.task_name, *t.task_id, *t.source_app_id, t.last_modified_time
            )
        })
        .collect();
    apps.sort();
    tasks.sort();
    (apps, tasks)
}

fn names(rows: &[String]) -> Vec<&str> {
    rows.iter().map(|r| r.split(' ').next().unwrap()).collect()
}

/// Asserts a typed client error: status, code, and request id equal to the header.
fn assert_api_error<T>(
    result: Result<T, Error<types::ErrorResp>>,
    status: u16,
    code: &str,
) -> types::ErrorResp {
    let Err(err) = result else {
        panic!("expected an error answer, got a success")
    };
    let Error::ErrorResponse(answer) = err else {
        panic!("expected a documented error, got {err:?}")
    };
    assert_eq!(answer.status().as_u16(), status);
    let header = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = answer.into_inner();
    assert_eq!(body.error_code.as_str(), code, "{body:?}");
    assert_eq!(body.request_id.as_str(), header);
    body
}

#[tokio::test]
async fn export_download_and_import_with_a_prefix_round_trip() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);

    // A task is exported with its app even when the app was not asked for.
    let job = export(
        &client,
        "demo",
        "demo",
        &["demo-app-orders"],
        &["demo-task-crm-contacts"],
    )
    .await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded,
        "{status:?}"
    );
    assert_eq!(
        status.type_,
        types::CheckAssetJobStatusResponseType::ExportAsset
    );
    assert_eq!(status.progress_percent, 1.0);
    assert!(status.end_time.is_some());
    let archive = status.archive_id.expect("an archive").to_string();
    let package = download(&client, "demo", "demo", &archive).await;
    assert_eq!(&package[..2], b"PK");

    // Served once.
    let again = client
        .download_asset_archive(&id("demo"), &id("demo"), &id(&archive))
        .await;
    assert_api_error(again, 404, "ROMA.10021");

    let job = import(
        &client,
        "demo",
        "staging",
        types::ImportAssetMode::AddNew,
        "stg_",
        "orders-crm.zip",
        package,
    )
    .await
    .expect("import accepted");
    let status = wait(&client, "demo", "staging", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded,
        "{status:?}"
    );
    assert_eq!(
        status.type_,
        types::CheckAssetJobStatusResponseType::ImportAsset
    );

    let (apps, tasks) = snapshot(&client, "demo", "staging").await;
    assert_eq!(names(&apps), ["stg_crm", "stg_orders"]);
    assert_eq!(names(&tasks), ["stg_crm-contacts"]);
    let crm_id = apps[0].split(' ').nth(1).unwrap();
    assert_eq!(
        tasks[0].split(' ').nth(2).unwrap(),
        crm_id,
        "the task belongs to the imported app"
    );
    // The source instance is untouched and the new ids are new.
    assert!(!crm_id.starts_with("demo-"));
}

#[tokio::test]
async fn merge_overwrites_by_name_and_an_addnew_conflict_changes_nothing() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);
    let job = export(
        &client,
        "demo",
        "demo",
        &["demo-app-orders", "demo-app-billing"],
        &["demo-task-orders-sync"],
    )
    .await;
    let archive = wait(&client, "demo", "demo", &job)
        .await
        .archive_id
        .unwrap()
        .to_string();
    let package = download(&client, "demo", "demo", &archive).await;

    let first = import(
        &client,
        "demo",
        "prod",
        types::ImportAssetMode::AddNew,
        "",
        "pkg.zip",
        package.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        wait(&client, "demo", "prod", &first).await.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    let before = snapshot(&client, "demo", "prod").await;
    assert_eq!(names(&before.0), ["billing", "orders"]);

    // AddNew again: every name conflicts; the job fails with reasons and nothing changes.
    let conflict = import(
        &client,
        "demo",
        "prod",
        types::ImportAssetMode::AddNew,
        "",
        "pkg.zip",
        package.clone(),
    )
    .await
    .unwrap();
    let status = wait(&client, "demo", "prod", &conflict).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Failed
    );
    let reasons: Vec<(String, String)> = status
        .reasons
        .iter()
        .map(|r| (r.resource_name.to_string(), r.error_code.to_string()))
        .collect();
    assert!(
        reasons.contains(&("orders".into(), "ROMA.10040".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("orders-sync".into(), "ROMA.10040".into())),
        "{reasons:?}"
    );
    assert_eq!(
        snapshot(&client, "demo", "prod").await,
        before,
        "a failed import leaves the instance as it was"
    );

    // Merge: same names are overwritten in place (ids kept), nothing duplicated.
    let merge = import(
        &client,
        "demo",
        "prod",
        types::ImportAssetMode::Merge,
        "",
        "pkg.zip",
        package,
    )
    .await
    .unwrap();
    assert_eq!(
        wait(&client, "demo", "prod", &merge).await.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    let after = snapshot(&client, "demo", "prod").await;
    let ids = |rows: &[String]| {
        rows.iter()
            .map(|r| r.split(' ').nth(1).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after.0), ids(&before.0));
    assert_eq!(ids(&after.1), ids(&before.1));
    assert_eq!(names(&after.1), ["orders-sync"]);
}

#[tokio::test]
async fn exports_beyond_100_assets_or_of_unknown_ids_are_refused() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);
    let apps: Vec<types::AssetExportRequestApps> = (0..101)
        .map(|i| types::AssetExportRequestApps {
            id: Some(format!("app-{i}")),
        })
        .collect();
    let refused = client
        .export_asset(
            &id("demo"),
            &id("demo"),
            &types::AssetExportRequest {
                apps,
                tasks: vec![],
            },
        )
        .await;
    let body = assert_api_error(refused, 400, "ROMA.13000");
    assert_eq!(
        body.error_details.unwrap().as_str(),
        "apps: more than 100 items (101)"
    );

    // Ids that don't exist make the job fail with one reason each (decided in DOMAIN.md).
    let job = export(
        &client,
        "demo",
        "demo",
        &["demo-app-orders", "no-such-app"],
        &["no-such-task"],
    )
    .await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Failed
    );
    assert!(
        status.archive_id.is_none(),
        "a failed export has no archive"
    );
    let reasons: Vec<(String, String)> = status
        .reasons
        .iter()
        .map(|r| (r.resource_name.to_string(), r.error_code.to_string()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("no-such-app".into(), "ROMA.10041".into()),
            ("no-such-task".into(), "ROMA.10041".into())
        ]
    );
}

#[tokio::test]
async fn only_one_asset_job_runs_per_project_at_a_time() {
    let server = start_with(Duration::from_millis(1500)).await;
    let client = client(&server.base, DEMO_TOKEN);
    let body = types::AssetExportRequest {
        apps: vec![types::AssetExportRequestApps {
            id: Some("demo-app-crm".into()),
        }],
        tasks: vec![],
    };
    let (project, instance): (types::ProjectId, types::InstanceId) = (id("demo"), id("demo"));
    let (a, b) = tokio::join!(
        client.export_asset(&project, &instance, &body),
        client.export_asset(&project, &instance, &body),
    );
    let (accepted, refused) = match (a, b) {
        (Ok(ok), Err(e)) | (Err(e), Ok(ok)) => (ok, Err::<(), _>(e)),
        (a, b) => panic!(
            "expected exactly one accepted, got ok={} and ok={}",
            a.is_ok(),
            b.is_ok()
        ),
    };
    assert_api_error(refused, 400, "ROMA.10012");
    let job = accepted.into_inner().job_id.unwrap().to_string();
    let running = client
        .check_asset_job_status(&id("demo"), &id("demo"), &id(&job))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        running.status,
        types::CheckAssetJobStatusResponseStatus::Running
    );
    assert!(running.progress_percent < 1.0);
    // An import is an asset job too, and another instance of the project is the same user.
    let package = b"PK".to_vec();
    let blocked = import(
        &client,
        "demo",
        "elsewhere",
        types::ImportAssetMode::AddNew,
        "",
        "x.zip",
        package,
    )
    .await;
    assert!(blocked.is_err());
    // Another project is not blocked.
    let other = self::client(&server.base, OTHER_TOKEN);
    let body = types::AssetExportRequest {
        apps: vec![],
        tasks: vec![],
    };
    other
        .export_asset(&id("other"), &id("x"), &body)
        .await
        .expect("another project's job");
    // A deletion is an asset job too.
    let deletion = client
        .delete_asset(
            &id("demo"),
            &id("demo"),
            &types::AssetOperateRequest {
                apps: vec![],
                tasks: vec![],
            },
        )
        .await;
    assert_api_error(deletion, 400, "ROMA.10012");
    // Once the job ended, a new one is accepted.
    wait(&client, "demo", "demo", &job).await;
    client
        .export_asset(&id("demo"), &id("demo"), &body)
        .await
        .expect("accepted after the first ended");
}

#[tokio::test]
async fn tokens_are_scoped_to_their_project() {
    let server = start().await;
    let http = http_client(Some(("x-auth-token", OTHER_TOKEN)));
    let apps = format!("{}/v2/demo/instances/demo/apps", server.base);
    expect_error(http.get(&apps), 403, "ROMA.1006", ROMA).await;
    expect_error(
        http_client(Some(("x-auth-token", "guess"))).get(&apps),
        401,
        "ROMA.1002",
        ROMA,
    )
    .await;
    expect_error(http_client(None).get(&apps), 401, "ROMA.1000", ROMA).await;
    // An AK/SK pair opens its own project only, as a token does.
    let signed = roma_assets::client::ClientBuilder::signed(
        &server.base,
        roma_assets::client::SigningKey::new(OTHER_AK, OTHER_SK).unwrap(),
    )
    .build()
    .unwrap();
    assert_api_error(
        signed
            .list_apps(
                &id("demo"),
                &id("demo"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            )
            .await,
        403,
        "ROMA.1006",
    );
    let own = signed
        .list_apps(
            &id("other"),
            &id("demo"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
        .await;
    assert_eq!(own.expect("its own project").status(), 200);
    // Unknown jobs and archives of another project are not found, whatever their id.
    let demo = client(&server.base, DEMO_TOKEN);
    assert_api_error(
        demo.check_asset_job_status(&id("demo"), &id("demo"), &id("nope"))
            .await,
        404,
        "ROMA.10020",
    );
    let other = client(&server.base, OTHER_TOKEN);
    let job = export(&other, "other", "o", &[], &[]).await;
    let archive = wait(&other, "other", "o", &job)
        .await
        .archive_id
        .unwrap()
        .to_string();
    assert_api_error(
        demo.check_asset_job_status(&id("demo"), &id("o"), &id(&job))
            .await,
        404,
        "ROMA.10020",
    );
    assert_api_error(
        demo.download_asset_archive(&id("demo"), &id("o"), &id(&archive))
            .await,
        404,
        "ROMA.10021",
    );
    // ... and the owner can still fetch it once.
    assert!(!download(&other, "other", "o", &archive).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Hostile packages: each kind gets its own code, up front, and the instance stays as it was.

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A package whose entries are given raw; `manifest` is edited by `tamper` before writing.
fn package_with(
    entries: &[(&str, Vec<u8>)],
    tamper: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut apps = Vec::new();
    let mut tasks = Vec::new();
    for (name, bytes) in entries {
        let asset: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let entry = serde_json::json!({
            "id": asset["id"], "name": asset["name"], "file": name, "sha256": sha(bytes),
        });
        if name.starts_with("apps/") {
            apps.push(entry)
        } else {
            tasks.push(entry)
        }
    }
    let mut manifest = serde_json::json!({
        "format_version": FORMAT_VERSION,
        "created_at": "2026-01-01T00:00:00Z",
        "source": {"project_id": "demo", "instance_id": "demo"},
        "apps": apps,
        "tasks": tasks,
    });
    tamper(&mut manifest);
    let mut files = vec![(
        "manifest.json".to_string(),
        serde_json::to_vec(&manifest).unwrap(),
    )];
    files.extend(entries.iter().map(|(n, b)| (n.to_string(), b.clone())));
    raw_zip(&files)
}

fn raw_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

fn app(id: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"id": id, "name": name, "description": ""})).unwrap()
}

#[tokio::test]
async fn every_kind_of_hostile_package_is_refused_with_its_code_and_changes_nothing() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);
    let before = snapshot(&client, "demo", "demo").await;

    let good = package_with(&[("apps/a1.json", app("a1", "fresh"))], |_| {});
    let mut symlink = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut symlink);
        zip.add_symlink(
            "apps/a1.json",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.finish().unwrap();
    }
    // Two entries with one name: written under two names, then the second renamed in place.
    let duplicate = {
        let bytes = package_with(
            &[
                ("apps/a1.json", app("a1", "x")),
                ("apps/a2.json", app("a1", "x")),
            ],
            |_| {},
        );
        let (from, to) = (b"apps/a2.json", b"apps/a1.json");
        let mut bytes = bytes;
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
        bytes
    };
    let many: Vec<(String, Vec<u8>)> = (0..101)
        .map(|i| {
            (
                format!("apps/a{i}.json"),
                app(&format!("a{i}"), &format!("n{i}")),
            )
        })
        .collect();
    let many_refs: Vec<(&str, Vec<u8>)> =
        many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();

    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "not a zip",
            "junk.zip",
            b"this is not a zip file at all".to_vec(),
            "ROMA.10011",
        ),
        (
            "truncated",
            "cut.zip",
            good[..good.len() / 2].to_vec(),
            "ROMA.10011",
        ),
        (
            "path traversal",
            "slip.zip",
            raw_zip(&[("../evil.json".into(), b"{}".to_vec())]),
            "ROMA.10030",
        ),
        (
            "absolute path",
            "abs.zip",
            raw_zip(&[("/etc/evil.json".into(), b"{}".to_vec())]),
            "ROMA.10030",
        ),
        ("symlink", "link.zip", symlink.into_inner(), "ROMA.10030"),
        (
            "zip bomb",
            "bomb.zip",
            raw_zip(&[("apps/a1.json".into(), vec![b' '; 4 * 1024 * 1024])]),
            "ROMA.10031",
        ),
        ("duplicate names", "dup.zip", duplicate, "ROMA.10032"),
        (
            "checksum mismatch",
            "sum.zip",
            package_with(&[("apps/a1.json", app("a1", "x"))], |m| {
                m["apps"][0]["sha256"] = sha(b"other").into()
            }),
            "ROMA.10033",
        ),
        (
            "unknown version",
            "v2.zip",
            package_with(&[("apps/a1.json", app("a1", "x"))], |m| {
                m["format_version"] = 2.into()
            }),
            "ROMA.10034",
        ),
        (
            "manifest not matching its schema",
            "bad.zip",
            package_with(&[("apps/a1.json", app("a1", "x"))], |m| {
                m["extra"] = true.into()
            }),
            "ROMA.10035",
        ),
        (
            "more than 100 assets",
            "many.zip",
            package_with(&many_refs, |_| {}),
            "ROMA.10036",
        ),
        ("not a .zip name", "assets.tar", good.clone(), "ROMA.10013"),
        (
            "name with a special character",
            "a b.zip",
            good.clone(),
            "ROMA.10013",
        ),
    ];
    for (what, file_name, bytes, code) in cases {
        let result = import(
            &client,
            "demo",
            "demo",
            types::ImportAssetMode::Merge,
            "",
            file_name,
            bytes,
        )
        .await;
        let body = assert_api_error(result, 400, code);
        assert!(body.error_details.is_some(), "{what}: a precise message");
        assert_eq!(
            snapshot(&client, "demo", "demo").await,
            before,
            "{what} changed the instance"
        );
    }
    // The good package goes through: the check above could fail.
    let job = import(
        &client,
        "demo",
        "demo",
        types::ImportAssetMode::AddNew,
        "",
        "good.zip",
        good,
    )
    .await
    .unwrap();
    assert_eq!(
        wait(&client, "demo", "demo", &job).await.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    assert_ne!(snapshot(&client, "demo", "demo").await, before);
}

#[tokio::test]
async fn the_server_serves_its_document_and_a_health_check() {
    let server = start().await;
    let http = http_client(None);
    let yaml = http
        .get(format!("{}/openapi.yaml", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(yaml, roma_assets::service::OPENAPI_YAML);
    let json: serde_json::Value = http
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["openapi"], "3.0.3");
    assert!(
        json["paths"]["/v2/{project_id}/instances/{instance_id}/assets/export"]["post"].is_object()
    );
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// The asset family around the seed pages: listings, details, deletion.

async fn delete(client: &Client, instance: &str, apps: &[&str], tasks: &[&str]) -> String {
    let (apps, tasks) = asset_lists(apps, tasks);
    let body = types::AssetOperateRequest { apps, tasks };
    let answer = client
        .delete_asset(&id("demo"), &id(instance), &body)
        .await
        .expect("a deletion job");
    answer.into_inner().job_id.expect("a job id").to_string()
}

#[tokio::test]
async fn a_deletion_is_all_or_nothing_and_an_app_goes_only_with_its_tasks() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);
    let before = snapshot(&client, "demo", "demo").await;

    // The app alone: its task would stay. FAILED, naming the task; nothing deleted.
    let job = delete(&client, "demo", &["demo-app-crm"], &[]).await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Failed
    );
    assert_eq!(
        status.type_,
        types::CheckAssetJobStatusResponseType::DeleteAsset
    );
    assert_eq!(status.reasons.len(), 1);
    assert_eq!(status.reasons[0].error_code.as_str(), "ROMA.10043");
    assert_eq!(status.reasons[0].resource_name.as_str(), "crm-contacts");
    assert_eq!(snapshot(&client, "demo", "demo").await, before);

    // An unknown id beside valid ones: FAILED with one reason, nothing deleted.
    let job = delete(
        &client,
        "demo",
        &["demo-app-crm"],
        &["demo-task-crm-contacts", "nope"],
    )
    .await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Failed
    );
    assert_eq!(status.reasons[0].error_code.as_str(), "ROMA.10041");
    assert_eq!(status.reasons[0].resource_name.as_str(), "nope");
    assert_eq!(snapshot(&client, "demo", "demo").await, before);

    // The app with its task: both go, the rest stays.
    let job = delete(
        &client,
        "demo",
        &["demo-app-crm"],
        &["demo-task-crm-contacts"],
    )
    .await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    assert_eq!(status.progress_percent, 1.0);
    assert!(status.archive_id.is_none());
    let (apps, tasks) = snapshot(&client, "demo", "demo").await;
    assert_eq!(names(&apps), ["billing", "orders"]);
    assert_eq!(
        names(&tasks),
        ["billing-export", "orders-archive", "orders-sync"]
    );
    assert_api_error(
        client
            .check_roma_app_details(&id("demo"), &id("demo"), &id("demo-app-crm"))
            .await,
        404,
        "ROMA.10042",
    );
    // A task alone can go.
    let job = delete(&client, "demo", &[], &["demo-task-orders-archive"]).await;
    let status = wait(&client, "demo", "demo", &job).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
}

/// GETs `path` (under `/v2/demo/`) with the demo token; the JSON answer.
async fn get_json(base: &str, path: &str) -> serde_json::Value {
    let answer = http_client(Some(("x-auth-token", DEMO_TOKEN)))
        .get(format!("{base}/v2/demo/{path}"))
        .send()
        .await
        .expect("sending");
    assert_eq!(answer.status(), 200, "{path}");
    answer.json().await.expect("JSON")
}

fn field<'a>(page: &'a serde_json::Value, list: &str, key: &str) -> Vec<&'a str> {
    page[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item[key].as_str().expect("a string"))
        .collect()
}

#[tokio::test]
async fn the_listings_apply_the_reference_pages_filters() {
    let server = start().await;
    let apps = |query: &str| {
        let base = server.base.clone();
        let query = query.to_string();
        async move { get_json(&base, &format!("instances/demo/apps?{query}")).await }
    };
    // Favoured first, then by name; every field of ServerAppInfo.
    let all = apps("").await;
    assert_eq!(field(&all, "apps", "name"), ["orders", "billing", "crm"]);
    let orders = &all["apps"][0];
    assert_eq!(orders["favorite"], true);
    assert_eq!(orders["owner"], true);
    assert_eq!(orders["created_user"]["user_name"], "demo");
    assert_eq!(orders["roles"].as_array().unwrap().len(), 5);
    assert!(orders["key"].as_str().unwrap().len() >= 3);
    assert_eq!(
        field(&apps("favorite=true").await, "apps", "name"),
        ["orders"]
    );
    assert_eq!(
        field(&apps("favorite=false&limit=1").await, "apps", "name"),
        ["billing"]
    );
    assert_eq!(apps("owner=false").await["total"], 0);
    assert_eq!(apps("owner=true&auth_role=admin").await["total"], 3);
    assert_eq!(apps("user_name=someone-else").await["total"], 0);
    assert_eq!(apps("user_name=demo").await["total"], 3);
    assert_eq!(field(&apps("name=rm").await, "apps", "name"), ["crm"]);
    // Details: the same object as in the listing.
    let details = get_json(&server.base, "instances/demo/apps/demo-app-orders").await;
    assert_eq!(&details, orders);

    let tasks = |query: &str| {
        let base = server.base.clone();
        let query = query.to_string();
        async move {
            let page = get_json(&base, &format!("fdi/instances/demo/tasks?{query}")).await;
            let mut names: Vec<String> = field(&page, "entities", "task_name")
                .into_iter()
                .map(str::to_string)
                .collect();
            names.sort();
            (page["total"].as_i64().unwrap(), names)
        }
    };
    let (total, _) = tasks("").await;
    assert_eq!(total, 4);
    assert_eq!(tasks("status=1").await.1, ["orders-archive", "orders-sync"]);
    assert_eq!(
        tasks("task_type=timing").await.1,
        ["billing-export", "orders-archive"]
    );
    assert_eq!(
        tasks("source_app_id=demo-app-orders").await.1,
        ["orders-archive", "orders-sync"]
    );
    assert_eq!(
        tasks("source_app_id=demo-app-orders&target_app_id=demo-app-crm")
            .await
            .0,
        0
    );
    assert_eq!(
        tasks("datasource_id=demo-ds-shop-db").await.1,
        ["orders-archive", "orders-sync"]
    );
    assert_eq!(
        tasks("target_datasource_id=demo-ds-crm-db").await.1,
        ["crm-contacts"]
    );
    assert_eq!(tasks("execute_status=ERROR").await.1, ["crm-contacts"]);
    assert_eq!(
        tasks("task_id=demo-task-billing-export").await.1,
        ["billing-export"]
    );
    assert_eq!(tasks("task_tag=finance").await.1, ["billing-export"]);
    // The page's task_name and the SDK's name; task_name wins.
    assert_eq!(tasks("task_name=sync").await.1, ["orders-sync"]);
    assert_eq!(tasks("name=sync").await.1, ["orders-sync"]);
    assert_eq!(tasks("name=sync&task_name=crm").await.1, ["crm-contacts"]);
    // Sorted by status, ascending: the stopped ones first.
    let page = get_json(
        &server.base,
        "fdi/instances/demo/tasks?sort_field=STATUS&sort_type=ASC",
    )
    .await;
    let statuses: Vec<i64> = page["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [0, 0, 1, 1]);
    let bean = &page["entities"][0];
    for key in [
        "task_type",
        "created_date",
        "version",
        "last_modified_time",
        "execute_status",
        "source_app_id",
        "target_app_id",
        "source_instance_id",
        "target_instance_id",
        "enterprise_project_id",
    ] {
        assert!(!bean[key].is_null(), "{key} in {bean}");
    }
    assert_eq!(bean["source_instance_id"], "demo");
}

#[tokio::test]
async fn an_imported_task_keeps_its_type_and_tag_and_starts_stopped() {
    let server = start().await;
    let client = client(&server.base, DEMO_TOKEN);
    let package = export_package(&client, &["demo-app-orders"], &["demo-task-orders-sync"]).await;
    let job = import(
        &client,
        "demo",
        "copy",
        types::ImportAssetMode::AddNew,
        "",
        "orders.zip",
        package,
    )
    .await
    .expect("import");
    assert_eq!(
        wait(&client, "demo", "copy", &job).await.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    let page = get_json(&server.base, "fdi/instances/copy/tasks").await;
    let task = &page["entities"][0];
    assert_eq!(task["task_name"], "orders-sync");
    assert_eq!(task["task_type"], "REALTIME");
    assert_eq!(task["task_tag"], "orders");
    assert_eq!(task["status"], 0);
    assert_eq!(task["execute_status"], "UNSTARTED");
    assert_eq!(task["version"], "1");
}

#[tokio::test]
async fn an_import_reads_only_the_parts_the_document_names() {
    let server = start().await;
    let http = http_client(Some(("x-auth-token", DEMO_TOKEN)));
    let url = format!("{}/v2/demo/instances/parts/assets/import", server.base);
    let binary =
        || reqwest::multipart::Part::bytes(vec![0xff, 0xfe, 0x00, 0x80]).file_name("x.bin");
    // A stray binary part and no file part: the missing part is the error, not the stray one.
    let form = reqwest::multipart::Form::new().part("attachment", binary());
    let refused = expect_error(http.post(&url).multipart(form), 400, "ROMA.13001", ROMA).await;
    assert!(
        refused["error_details"]
            .as_str()
            .unwrap()
            .contains("ImportAssetRequestBody")
    );
    // A stray binary part before the package: skipped, the package imported.
    let client = client(&server.base, DEMO_TOKEN);
    let package = export_package(&client, &["demo-app-crm"], &[]).await;
    let form = reqwest::multipart::Form::new()
        .part("attachment", binary())
        .part(
            "ImportAssetRequestBody",
            reqwest::multipart::Part::bytes(package).file_name("crm.zip"),
        );
    let answer = http.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let job: serde_json::Value = answer.json().await.unwrap();
    let status = wait(&client, "demo", "parts", job["job_id"].as_str().unwrap()).await;
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
}
