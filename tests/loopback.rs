//! The generated client against the generated router over a real loopback socket, with a small
//! in-test implementation of the `Api` trait: every operation, a multi-MiB streamed upload, each
//! refusal of the generated layer, and typed errors carrying `error_code` and `request_id`.

mod support;

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use roma_assets::client::{Client, Error, SigningKey, UploadFile, types};
use roma_assets::contract::codes;
use roma_assets::server::{
    self, ApiError, CheckAssetJobStatusParams, CheckAssetJobStatusReply, Credential,
    DownloadAssetArchiveParams, DownloadAssetArchiveReply, ExportAssetParams, ExportAssetReply,
    ImportAssetForm, ImportAssetParams, ImportAssetReply, RequestContext,
};
use roma_assets::server::{ListAppsParams, ListAppsReply, ListTasksParams, ListTasksReply};
use roma_assets_runtime::sign::{self, Signer};
use support::{ROMA, expect_error, http_client, serve};

const TOKEN: &str = "test-token";
/// The AK/SK pair the in-test server knows.
const ACCESS_KEY: &str = "LOOPBACKAK0000000001";
const SECRET_KEY: &str = "loopback-secret-key-0000000000000000000000";

/// What the in-test implementation saw.
#[derive(Default)]
struct Seen {
    export: Option<(String, String, usize, usize)>,
    import: Option<ImportSeen>,
}

#[derive(Debug, Clone)]
struct ImportSeen {
    mode: types::ImportAssetMode,
    prefix: Option<String>,
    file_name: Option<String>,
    bytes: u64,
    checksum: u64,
}

#[derive(Clone, Default)]
struct TestApi {
    seen: Arc<Mutex<Seen>>,
}

/// A cheap order-sensitive checksum (FNV-1a), enough to prove the bytes arrived intact.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}
const FNV_START: u64 = 0xcbf29ce484222325;

impl server::SigningKeys for TestApi {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        (access_key == ACCESS_KEY).then(|| SECRET_KEY.to_string())
    }
}

impl server::Api for TestApi {
    async fn export_asset(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ExportAssetParams,
        body: types::AssetExportRequest,
    ) -> ExportAssetReply {
        let valid = match &credential {
            Credential::Key(token) => token == TOKEN,
            Credential::Signed { access_key } => access_key == ACCESS_KEY,
        };
        if !valid {
            return ApiError::new(codes::ROMA_1002, "token not valid").into();
        }
        self.seen.lock().unwrap().export = Some((
            params.project_id.to_string(),
            params.instance_id.to_string(),
            body.apps.len(),
            body.tasks.len(),
        ));
        ExportAssetReply::Ok(types::ExportAssetResponse {
            job_id: Some("job-export-1".parse().unwrap()),
        })
    }

    async fn import_asset(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: ImportAssetParams,
        mut body: ImportAssetForm,
    ) -> ImportAssetReply {
        let part = &mut body.import_asset_request_body;
        let file_name = part.file_name.clone();
        let (mut bytes, mut checksum) = (0u64, FNV_START);
        while let Some(chunk) = part.next().await {
            match chunk {
                Ok(chunk) => {
                    bytes += chunk.len() as u64;
                    checksum = fnv(checksum, &chunk);
                }
                Err(e) => return ApiError::from(e).into(),
            }
        }
        if file_name.as_deref() == Some("refuse-me.zip") {
            return ApiError::new(codes::ROMA_10013, "bad file name").into();
        }
        self.seen.lock().unwrap().import = Some(ImportSeen {
            mode: params.mode,
            prefix: params.prefix.map(|p| p.to_string()),
            file_name,
            bytes,
            checksum,
        });
        ImportAssetReply::Ok(types::ImportAssetResponse {
            job_id: Some("job-import-1".parse().unwrap()),
        })
    }

    async fn check_asset_job_status(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: CheckAssetJobStatusParams,
    ) -> CheckAssetJobStatusReply {
        if params.job_id.as_str() != "job-export-1" {
            return ApiError::new(codes::ROMA_10020, "no such asset job").into();
        }
        CheckAssetJobStatusReply::Ok(types::CheckAssetJobStatusResponse {
            id: "job-export-1".parse().unwrap(),
            type_: types::CheckAssetJobStatusResponseType::ExportAsset,
            status: types::CheckAssetJobStatusResponseStatus::Succeeded,
            progress_percent: 1.0,
            archive_id: Some("archive-1".parse().unwrap()),
            reasons: vec![],
            begin_time: "2019-12-06T06:49:04Z".parse().unwrap(),
            end_time: Some("2019-12-06T06:49:06Z".parse().unwrap()),
        })
    }

    async fn download_asset_archive(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: DownloadAssetArchiveParams,
    ) -> DownloadAssetArchiveReply {
        if params.archive_id.as_str() != "archive-1" {
            return ApiError::new(codes::ROMA_10021, "no such archive").into();
        }
        DownloadAssetArchiveReply::Ok(axum::body::Body::from(b"PK\x03\x04 pretend zip".to_vec()))
    }

    async fn list_apps(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: ListAppsParams,
    ) -> ListAppsReply {
        // Echoes the paging it received, to show the document's defaults were applied.
        let user = types::ServerAppInfoUser {
            user_id: "u".into(),
            user_name: "user".into(),
        };
        let app = types::ServerAppInfo {
            id: format!("offset={} limit={}", params.offset, params.limit),
            name: params.name.unwrap_or_else(|| "app".into()).parse().unwrap(),
            remark: "".parse().unwrap(),
            roles: vec![types::ServerAppInfoRolesItem::Read],
            create_time: "2019-12-06T06:49:04Z".parse().unwrap(),
            update_time: "2019-12-06T06:49:04Z".parse().unwrap(),
            created_user: user.clone(),
            last_updated_user: user,
            owner: params.owner.unwrap_or(true),
            key: "KEY0001".parse().unwrap(),
            favorite: params.favorite.unwrap_or(false),
        };
        ListAppsReply::Ok(types::ListAppsResponse {
            total: 1,
            size: 1,
            apps: vec![app],
        })
    }

    async fn list_tasks(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: ListTasksParams,
    ) -> ListTasksReply {
        ListTasksReply::Ok(types::ListTasksResponse {
            total: 0,
            size: 0,
            entities: vec![],
        })
    }

    async fn list_instances(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: server::ListInstancesParams,
    ) -> server::ListInstancesReply {
        server::ListInstancesReply::Ok(types::ListInstancesResponse {
            total: 0,
            size: 0,
            instances: vec![],
        })
    }

    async fn check_roma_app_details(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: server::CheckRomaAppDetailsParams,
    ) -> server::CheckRomaAppDetailsReply {
        ApiError::new(codes::ROMA_10042, "no such application")
            .with_details(format!("application {}", params.app_id.as_str()))
            .into()
    }

    async fn delete_asset(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: server::DeleteAssetParams,
        body: types::AssetOperateRequest,
    ) -> server::DeleteAssetReply {
        server::DeleteAssetReply::Ok(types::DeleteAssetResponse {
            job_id: Some(
                format!("job-delete-{}-{}", body.apps.len(), body.tasks.len())
                    .parse()
                    .unwrap(),
            ),
        })
    }
}

async fn start(config: server::RouterConfig) -> (String, TestApi) {
    let api = TestApi::default();
    let base = serve(server::router_with(api.clone(), config)).await;
    (base, api)
}

/// Writes `request` on a new connection, stops writing, and reads the answer to the end (the
/// request asks for `Connection: close`): its status and JSON body.
async fn raw_exchange(base: &str, request: &[u8]) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.strip_prefix("http://").expect("an http base URL");
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    tcp.write_all(request).await.expect("sending");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("an answer within 20 s")
    .expect("reading the answer");
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_string()));
    (status, body)
}

fn client(base: &str) -> Client {
    Client::new_with_client(
        base,
        http_client(Some(("x-auth-token", TOKEN))),
        Default::default(),
    )
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a valid id")
}

#[tokio::test]
async fn all_four_operations_work_through_the_generated_client() {
    let (base, api) = start(Default::default()).await;
    let client = client(&base);
    let (project, instance) = (id("proj"), id("inst"));

    let body = types::AssetExportRequest {
        apps: vec![types::AssetExportRequestApps {
            id: Some("a1".into()),
        }],
        tasks: vec![types::AssetExportRequestTasks {
            id: Some("t1".into()),
        }],
    };
    let created = client
        .export_asset(&project, &instance, &body)
        .await
        .expect("export");
    assert_eq!(created.status(), 200);
    assert!(created.headers().contains_key("x-request-id"));
    assert_eq!(
        created.into_inner().job_id.unwrap().as_str(),
        "job-export-1"
    );
    assert_eq!(
        api.seen.lock().unwrap().export,
        Some(("proj".into(), "inst".into(), 1, 1))
    );

    let status = client
        .check_asset_job_status(&project, &instance, &id("job-export-1"))
        .await
        .expect("status");
    let status = status.into_inner();
    assert_eq!(
        status.status,
        types::CheckAssetJobStatusResponseStatus::Succeeded
    );
    assert_eq!(
        status.archive_id.as_deref().map(String::as_str),
        Some("archive-1")
    );

    let archive = client
        .download_asset_archive(&project, &instance, &id("archive-1"))
        .await
        .expect("download");
    assert_eq!(archive.headers()["content-type"], "application/zip");
    let mut bytes = Vec::new();
    let mut stream = archive.into_inner();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(bytes, b"PK\x03\x04 pretend zip");

    let file = UploadFile::from_stream(
        "assets.zip",
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
            b"zip bytes",
        ))]),
        Some(9),
    );
    let imported = client
        .import_asset(
            &project,
            &instance,
            Some(types::ImportAssetMode::Merge),
            Some(&id("dev_")),
            file,
        )
        .await
        .expect("import");
    assert_eq!(
        imported.into_inner().job_id.unwrap().as_str(),
        "job-import-1"
    );
    let seen = api
        .seen
        .lock()
        .unwrap()
        .import
        .clone()
        .expect("import seen");
    assert_eq!(seen.mode, types::ImportAssetMode::Merge);
    assert_eq!(seen.prefix.as_deref(), Some("dev_"));
    assert_eq!(seen.file_name.as_deref(), Some("assets.zip"));
    assert_eq!(seen.bytes, 9);
}

#[tokio::test]
async fn query_defaults_and_bounds_of_the_listings_come_from_the_document() {
    let (base, _) = start(Default::default()).await;
    let client = client(&base);
    let page = client
        .list_apps(&id("p"), &id("i"), None, None, None, None, None, None, None)
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        page.apps[0].id, "offset=0 limit=10",
        "the document's defaults are applied"
    );
    let http = http_client(Some(("x-auth-token", TOKEN)));
    let apps = format!("{base}/v2/p/instances/i/apps");
    let answer = expect_error(
        http.get(format!("{apps}?limit=501")),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(answer["error_details"], "limit: greater than 500");
    let answer = expect_error(
        http.get(format!("{apps}?offset=-1")),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(answer["error_details"], "offset: less than 0");
    let answer = expect_error(
        http.get(format!("{apps}?limit=ten")),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert!(
        answer["error_details"]
            .as_str()
            .unwrap()
            .starts_with("limit: not an integer")
    );
    let page = client
        .list_apps(
            &id("p"),
            &id("i"),
            None,
            Some(true),
            std::num::NonZeroU64::new(7),
            Some(&id("ord")),
            Some(3),
            Some(false),
            None,
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.apps[0].id, "offset=3 limit=7");
    assert!(
        page.apps[0].favorite && !page.apps[0].owner,
        "booleans reach the handler"
    );
}

#[tokio::test]
async fn a_multi_mib_upload_streams_through_client_and_router_intact() {
    let (base, api) = start(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-package.zip");
    let size: usize = 12 * 1024 * 1024;
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let expected = fnv(FNV_START, &data);
    drop(data);

    let progress = Arc::new(Mutex::new(Vec::new()));
    let recorded = progress.clone();
    let file = UploadFile::from_path(&path)
        .await
        .unwrap()
        .with_progress(move |p| recorded.lock().unwrap().push((p.sent, p.total)));
    let response = client(&base)
        .import_asset(&id("p"), &id("i"), None, None, file)
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);

    let seen = api.seen.lock().unwrap().import.clone().unwrap();
    assert_eq!(seen.bytes, size as u64);
    assert_eq!(
        seen.checksum, expected,
        "the server received different bytes"
    );
    assert_eq!(
        seen.mode,
        types::ImportAssetMode::AddNew,
        "the document's default mode is applied"
    );
    assert_eq!(seen.file_name.as_deref(), Some("big-package.zip"));
    let progress = progress.lock().unwrap();
    assert!(
        progress.len() > 10,
        "progress reported in chunks, got {}",
        progress.len()
    );
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress is monotonic"
    );
    assert_eq!(
        progress.last().copied(),
        Some((size as u64, Some(size as u64)))
    );
}

#[tokio::test]
async fn typed_errors_carry_error_code_and_request_id() {
    let (base, _) = start(Default::default()).await;
    let client = client(&base);
    let err = client
        .check_asset_job_status(&id("p"), &id("i"), &id("nope"))
        .await
        .expect_err("unknown job");
    let Error::ErrorResponse(answer) = err else {
        panic!("expected a typed error, got {err:?}")
    };
    assert_eq!(answer.status(), 404);
    let header = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = answer.into_inner();
    assert_eq!(body.error_code.as_str(), "ROMA.10020");
    assert_eq!(body.request_id.as_str(), header);
    assert_eq!(header.len(), 32);

    let refused = client
        .import_asset(
            &id("p"),
            &id("i"),
            None,
            None,
            UploadFile::from_stream(
                "refuse-me.zip",
                futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
                Some(0),
            ),
        )
        .await
        .expect_err("refused");
    let Error::ErrorResponse(answer) = refused else {
        panic!("expected a typed error")
    };
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.into_inner().error_code.as_str(), "ROMA.10013");
}

/// The document's `x-file-name` rule of the package part, checked by the generated layer: the
/// names it allows reach the handler, the others get ROMA.10013 naming the file, and never do.
#[tokio::test]
async fn the_package_file_name_follows_the_documents_rule() {
    let (base, api) = start(Default::default()).await;
    let upload = |part: reqwest::multipart::Part| {
        let form = reqwest::multipart::Form::new().part("ImportAssetRequestBody", part);
        http_client(Some(("x-auth-token", TOKEN)))
            .post(format!("{base}/v2/p/instances/i/assets/import"))
            .multipart(form)
    };
    let named =
        |name: &str| reqwest::multipart::Part::bytes(b"zip".to_vec()).file_name(name.to_string());
    for good in ["assets.zip", "a.zip", "Dev+Test_1-2.zip", "9lives.zip"] {
        let response = upload(named(good)).send().await.expect("sending");
        assert_eq!(response.status(), 200, "{good}");
        let seen = api
            .seen
            .lock()
            .unwrap()
            .import
            .take()
            .expect("reached the handler");
        assert_eq!(seen.file_name.as_deref(), Some(good));
    }
    for bad in [
        "assets.tar",
        "_x.zip",
        "a b.zip",
        "../a.zip",
        ".zip",
        "a.ZIP",
    ] {
        let answer = expect_error(upload(named(bad)), 400, "ROMA.10013", ROMA).await;
        assert_eq!(answer["error_msg"], "not a .zip, or a bad file name");
        let details = answer["error_details"].as_str().unwrap_or_default();
        assert!(details.contains(&format!("{bad:?}")), "{bad}: {details}");
    }
    // A file part without a file name.
    let unnamed = reqwest::multipart::Part::bytes(b"zip".to_vec());
    let answer = expect_error(upload(unnamed), 400, "ROMA.10013", ROMA).await;
    assert!(
        answer["error_details"]
            .as_str()
            .is_some_and(|d| d.contains("no file name")),
        "{answer}"
    );
    assert!(
        api.seen.lock().unwrap().import.is_none(),
        "no refusal reached the handler"
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_before_the_handler() {
    let (base, api) = start(Default::default()).await;
    let url = format!("{base}/v2/p/instances/i/assets/export");
    let body = serde_json::json!({"apps": []});
    let bare = http_client(None);
    let missing = expect_error(bare.post(&url).json(&body), 401, "ROMA.1000", ROMA).await;
    assert_eq!(
        missing["error_details"],
        "no x-auth-token header and no SDK-HMAC-SHA256 Authorization header (AK/SK signature)"
    );
    expect_error(
        bare.post(&url).header("X-Auth-Token", "").json(&body),
        401,
        "ROMA.1000",
        ROMA,
    )
    .await;
    let long = "t".repeat(100_001);
    let too_long = expect_error(
        bare.post(&url).header("X-Auth-Token", &long).json(&body),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(
        too_long["error_details"],
        "x-auth-token: longer than 100000 characters"
    );
    // The longest token the document allows gets through to the handler (which refuses it).
    let longest = "t".repeat(100_000);
    expect_error(
        bare.post(&url).header("X-Auth-Token", &longest).json(&body),
        401,
        "ROMA.1002",
        ROMA,
    )
    .await;
    assert!(api.seen.lock().unwrap().export.is_none());
}

async fn record_header_names(
    axum::extract::State(seen): axum::extract::State<Arc<Mutex<Vec<String>>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let names = request
        .headers()
        .keys()
        .map(|name| name.as_str().to_string());
    seen.lock().unwrap().extend(names);
    next.run(request).await
}

/// progenitor sends an `api-version` header with every request; the generator takes it out of
/// progenitor's methods and never writes it into its own (multipart) ones.
#[tokio::test]
async fn the_generated_client_sends_only_headers_http_and_the_document_ask_for() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = server::router(TestApi::default()).layer(axum::middleware::from_fn_with_state(
        seen.clone(),
        record_header_names,
    ));
    let base = serve(router).await;
    let client = client(&base);
    client
        .check_asset_job_status(&id("p"), &id("i"), &id("job-export-1"))
        .await
        .expect("status");
    let file = UploadFile::from_stream(
        "assets.zip",
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"zip"))]),
        Some(3),
    );
    client
        .import_asset(&id("p"), &id("i"), None, None, file)
        .await
        .expect("import");
    let mut names = seen.lock().unwrap().clone();
    names.sort();
    names.dedup();
    let expected = [
        "accept",
        "content-length",
        "content-type",
        "host",
        "x-auth-token",
    ];
    assert!(
        names.iter().all(|name| expected.contains(&name.as_str())),
        "headers sent: {names:?}"
    );
    assert!(names.contains(&"x-auth-token".to_string()), "{names:?}");
}

#[tokio::test]
async fn every_constraint_of_the_document_is_enforced_by_the_generated_layer() {
    let (base, api) = start(Default::default()).await;
    let http = http_client(Some(("x-auth-token", TOKEN)));
    let export = format!("{base}/v2/p/instances/i/assets/export");
    let items = |n: usize| {
        (0..n)
            .map(|i| serde_json::json!({"id": format!("x{i}")}))
            .collect::<Vec<_>>()
    };

    let cases: Vec<(serde_json::Value, &str)> = vec![
        (serde_json::json!({"tasks": []}), "apps: is required"),
        (
            serde_json::json!({"apps": items(101)}),
            "apps: more than 100 items (101)",
        ),
        (
            serde_json::json!({"apps": [], "tasks": items(101)}),
            "tasks: more than 100 items (101)",
        ),
        (
            serde_json::json!({"apps": items(60), "tasks": items(41)}),
            "body: apps + tasks together hold more than 100 items (101)",
        ),
        (
            serde_json::json!({"apps": [{"id": 7}]}),
            "apps[0].id: must be a string",
        ),
        (serde_json::json!({"apps": "x"}), "apps: must be an array"),
        // A derived struct would take `["a"]` for `{"id": "a"}`, and `Option` takes a null.
        (
            serde_json::json!({"apps": [["a"]]}),
            "apps[0]: must be an object",
        ),
        (
            serde_json::json!({"apps": [{"id": null}]}),
            "apps[0].id: must be a string",
        ),
        (serde_json::json!([1]), "body: must be an object"),
    ];
    for (body, details) in cases {
        let answer = expect_error(http.post(&export).json(&body), 400, "ROMA.13000", ROMA).await;
        assert_eq!(answer["error_details"], details, "for {body}");
    }
    // 100 together is the limit, not a violation.
    let ok = http
        .post(&export)
        .json(&serde_json::json!({"apps": items(50), "tasks": items(50)}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    expect_error(
        http.post(&export)
            .header("content-type", "application/json")
            .body("{\"apps\": ["),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    expect_error(http.post(&export), 400, "ROMA.13001", ROMA).await;
    expect_error(
        http.post(&export)
            .header("content-type", "text/plain")
            .body("{}"),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    let huge = serde_json::json!({"apps": [{"id": "x".repeat(3 * 1024 * 1024)}]});
    expect_error(http.post(&export).json(&huge), 413, "ROMA.10022", ROMA).await;

    // Path parameters: 0..64 characters; job_id 1..128.
    let long_project = "p".repeat(65);
    let answer = expect_error(
        http.post(format!(
            "{base}/v2/{long_project}/instances/i/assets/export"
        ))
        .json(&serde_json::json!({"apps": []})),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(
        answer["error_details"],
        "project_id: longer than 64 characters"
    );
    let long_job = "j".repeat(129);
    expect_error(
        http.get(format!("{base}/v2/p/instances/i/assets/jobs/{long_job}")),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;

    // Query parameters of ImportAsset.
    let import = format!("{base}/v2/p/instances/i/assets/import");
    let form = || {
        reqwest::multipart::Form::new().part(
            "ImportAssetRequestBody",
            reqwest::multipart::Part::bytes(b"zip".to_vec()).file_name("a.zip"),
        )
    };
    let answer = expect_error(
        http.post(format!("{import}?mode=Replace"))
            .multipart(form()),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(answer["error_details"], "mode: not one of AddNew, Merge");
    let answer = expect_error(
        http.post(format!("{import}?prefix=a%20b"))
            .multipart(form()),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(
        answer["error_details"],
        "prefix: does not match ^[A-Za-z0-9_-]*$"
    );
    let long_prefix = "p".repeat(33);
    let answer = expect_error(
        http.post(format!("{import}?prefix={long_prefix}"))
            .multipart(form()),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;
    assert_eq!(answer["error_details"], "prefix: longer than 32 characters");
    // The file part is required; so is a multipart body.
    let other_part = reqwest::multipart::Form::new().text("something", "else");
    let answer = expect_error(
        http.post(&import).multipart(other_part),
        400,
        "ROMA.13001",
        ROMA,
    )
    .await;
    assert_eq!(
        answer["error_details"],
        "the file part ImportAssetRequestBody is required"
    );
    expect_error(http.post(&import), 400, "ROMA.13001", ROMA).await;
    expect_error(
        http.post(&import)
            .header("content-type", "application/json")
            .body("{}"),
        400,
        "ROMA.13000",
        ROMA,
    )
    .await;

    // Unknown paths and methods get the error body too.
    expect_error(
        http.get(format!("{base}/v2/p/instances/i/assets/nothing")),
        404,
        "ROMA.10091",
        ROMA,
    )
    .await;
    expect_error(http.get(&export), 405, "ROMA.10092", ROMA).await;

    let seen = api.seen.lock().unwrap();
    assert!(
        seen.import.is_none(),
        "no refused import reached the handler"
    );
}

#[tokio::test]
async fn the_import_body_limit_is_configurable_and_answered_with_413() {
    let mut config = server::RouterConfig::default();
    assert_eq!(
        config.body_limits.import_asset, 134_217_728,
        "the document's x-max-body-bytes is the default"
    );
    config.body_limits.import_asset = 1024 * 1024;
    let (base, api) = start(config).await;

    // Declared too large: answered before a byte of the body is sent. The generated client may
    // see its connection closed while it still sends; a raw connection that sends the head only
    // shows the answer itself.
    let big = UploadFile::from_stream(
        "big.zip",
        futures_util::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 512 * 1024]))),
        ),
        Some(2 * 1024 * 1024),
    );
    let err = client(&base)
        .import_asset(&id("p"), &id("i"), None, None, big)
        .await
        .expect_err("too large");
    match err {
        Error::ErrorResponse(answer) => {
            assert_eq!(answer.status(), 413);
            assert_eq!(answer.into_inner().error_code.as_str(), "ROMA.10022");
        }
        Error::CommunicationError(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    let head = |framing: &str| {
        format!(
            "POST /v2/p/instances/i/assets/import HTTP/1.1\r\nHost: test\r\n\
             X-Auth-Token: {TOKEN}\r\nContent-Type: multipart/form-data; boundary=b\r\n\
             {framing}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let (status, body) = raw_exchange(&base, &head("Content-Length: 2097152")).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_code"], "ROMA.10022");
    assert_eq!(
        body["error_details"],
        "the request body is larger than 1048576 bytes"
    );

    // Unknown length (chunked): refused by the generated stream once one byte too many came.
    // Exactly that many are sent, so the server has read everything when it answers.
    let mut request = head("Transfer-Encoding: chunked");
    let preamble = "--b\r\nContent-Disposition: form-data; name=\"ImportAssetRequestBody\"; \
                    filename=\"big.zip\"\r\nContent-Type: application/zip\r\n\r\n";
    let mut left = 1024 * 1024 + 1;
    let chunk = |data: &[u8], request: &mut Vec<u8>| {
        request.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        request.extend_from_slice(data);
        request.extend_from_slice(b"\r\n");
    };
    chunk(preamble.as_bytes(), &mut request);
    left -= preamble.len();
    while left > 0 {
        let n = left.min(64 * 1024);
        chunk(&vec![1u8; n], &mut request);
        left -= n;
    }
    let (status, body) = raw_exchange(&base, &request).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_code"], "ROMA.10022");
    assert!(api.seen.lock().unwrap().import.is_none());
}

fn signed_client(base: &str, secret_key: &str) -> Client {
    let key = SigningKey::new(ACCESS_KEY, secret_key).unwrap();
    Client::new_with_client(base, reqwest::Client::new(), Signer::new(key))
}

#[tokio::test]
async fn ak_sk_alone_authenticates_every_operation_of_the_generated_client() {
    let (base, api) = start(Default::default()).await;
    let client = signed_client(&base, SECRET_KEY);
    let (project, instance) = (id("proj"), id("inst"));
    let body = types::AssetExportRequest {
        apps: vec![types::AssetExportRequestApps {
            id: Some("a1".into()),
        }],
        tasks: vec![],
    };
    // A JSON body, signed by its hash.
    let created = client
        .export_asset(&project, &instance, &body)
        .await
        .expect("signed export");
    assert_eq!(
        created.into_inner().job_id.unwrap().as_str(),
        "job-export-1"
    );
    assert_eq!(
        api.seen.lock().unwrap().export,
        Some(("proj".into(), "inst".into(), 1, 0))
    );
    // Without a body, with a query, and a streamed upload signed as UNSIGNED-PAYLOAD.
    client
        .check_asset_job_status(&project, &instance, &id("job-export-1"))
        .await
        .expect("status");
    client
        .download_asset_archive(&project, &instance, &id("archive-1"))
        .await
        .expect("download");
    client
        .list_apps(
            &project,
            &instance,
            None,
            None,
            Some(5.try_into().unwrap()),
            Some(&id("orders app")),
            Some(0),
            None,
            None,
        )
        .await
        .expect("list with a query");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.zip");
    std::fs::write(&path, vec![7u8; 300_000]).unwrap();
    let file = UploadFile::from_path(&path).await.unwrap();
    client
        .import_asset(&project, &instance, None, None, file)
        .await
        .expect("signed upload");
    assert_eq!(
        api.seen.lock().unwrap().import.as_ref().unwrap().bytes,
        300_000
    );
}

/// Sends `request` as it is and expects the signature refusal, returning its details.
async fn refused_signature(request: reqwest::Request) -> String {
    let response = reqwest::Client::new()
        .execute(request)
        .await
        .expect("sending");
    assert_eq!(response.status(), 401);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0301", "{body}");
    assert_eq!(body["request_id"], request_id.as_str());
    let details = body["error_details"].as_str().unwrap().to_string();
    assert!(details.chars().count() <= 128, "{details}");
    details
}

#[tokio::test]
async fn signatures_that_do_not_verify_are_refused_with_the_error_body() {
    let (base, api) = start(Default::default()).await;
    let url = format!("{base}/v2/p/instances/i/assets/export");
    let http = reqwest::Client::new();
    let signer = Signer::new(SigningKey::new(ACCESS_KEY, SECRET_KEY).unwrap());
    let signed = |body: &str| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
            .unwrap();
        signer.sign_request(&mut request).unwrap();
        request
    };

    // A wrong secret key, through the generated client.
    let err = signed_client(&base, "not-the-secret")
        .export_asset(
            &id("p"),
            &id("i"),
            &types::AssetExportRequest {
                apps: vec![],
                tasks: vec![],
            },
        )
        .await
        .unwrap_err();
    let Error::ErrorResponse(response) = err else {
        panic!("{err:?}")
    };
    assert_eq!(response.status(), 401);
    let body = response.into_inner();
    assert_eq!(body.error_code.as_str(), "APIG.0301");
    assert!(
        body.error_details
            .unwrap()
            .as_str()
            .starts_with("signature mismatch")
    );

    // The body changed after signing.
    let mut changed = signed(r#"{"apps":[{"id":"a"}]}"#);
    *changed.body_mut() = Some(r#"{"apps":[{"id":"b"}]}"#.into());
    assert!(
        refused_signature(changed)
            .await
            .starts_with("signature mismatch")
    );

    // The path changed after signing.
    let mut moved = signed("{}");
    *moved.url_mut() = format!("{base}/v2/q/instances/i/assets/export")
        .parse()
        .unwrap();
    assert!(
        refused_signature(moved)
            .await
            .starts_with("signature mismatch")
    );

    // A JSON body declared unsigned.
    let mut unsigned = http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-sdk-content-sha256", "UNSIGNED-PAYLOAD")
        .body("{}")
        .build()
        .unwrap();
    signer.sign_request(&mut unsigned).unwrap();
    assert!(
        refused_signature(unsigned)
            .await
            .starts_with("UNSIGNED-PAYLOAD is for streamed uploads")
    );

    // A date 20 minutes old.
    let mut stale = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .build()
        .unwrap();
    let host = stale.url().authority().to_string();
    stale.headers_mut().insert("host", host.parse().unwrap());
    let (method, path) = (stale.method().to_string(), stale.url().path().to_string());
    sign::sign(
        stale.headers_mut(),
        &method,
        &path,
        None,
        sign::Payload::Bytes(b"{}"),
        &SigningKey::new(ACCESS_KEY, SECRET_KEY).unwrap(),
        chrono::Utc::now() - chrono::TimeDelta::minutes(20),
    )
    .unwrap();
    // 1200 s, or 1201 s when a second boundary passes between signing and checking (seen under
    // load).
    let details = refused_signature(stale).await;
    assert!(
        ["1200", "1201"]
            .iter()
            .any(|s| details.starts_with(&format!("X-Sdk-Date is {s} s from the server's clock"))),
        "{details}"
    );

    // Host left out of the signed headers.
    let mut no_host = signed("{}");
    let authorization = no_host.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace("host;", "");
    no_host
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    assert_eq!(
        refused_signature(no_host).await,
        "header Host must be signed: add it to SignedHeaders"
    );

    // An unknown access key, and a malformed header.
    let mut unknown = signed("{}");
    let authorization = unknown.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace(ACCESS_KEY, "OTHERAK");
    unknown
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    assert!(
        refused_signature(unknown)
            .await
            .starts_with("unknown access key")
    );
    let mut malformed = signed("{}");
    malformed.headers_mut().insert(
        "authorization",
        "SDK-HMAC-SHA256 Access=AK".parse().unwrap(),
    );
    assert!(
        refused_signature(malformed)
            .await
            .starts_with("Authorization header malformed")
    );

    // A multipart upload must be declared UNSIGNED-PAYLOAD (its body is streamed, not hashed).
    let import = format!("{base}/v2/p/instances/i/assets/import");
    let mut upload = http
        .post(&import)
        .header("content-type", "multipart/form-data; boundary=b")
        .body("--b--\r\n")
        .build()
        .unwrap();
    let host = upload.url().authority().to_string();
    upload.headers_mut().insert("host", host.parse().unwrap());
    let path = upload.url().path().to_string();
    sign::sign(
        upload.headers_mut(),
        "POST",
        &path,
        None,
        sign::Payload::Bytes(b"--b--\r\n"),
        &SigningKey::new(ACCESS_KEY, SECRET_KEY).unwrap(),
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(
        refused_signature(upload)
            .await
            .starts_with("a streamed (multipart) body")
    );

    assert!(
        api.seen.lock().unwrap().export.is_none(),
        "no refused request reached the handler"
    );
    assert!(api.seen.lock().unwrap().import.is_none());
}
