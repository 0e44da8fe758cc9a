//! Loopback tests of the generated multipart client method (`Client::import_asset`): a tiny axum
//! server on 127.0.0.1:0 records what arrives, so the tests see the request as a server does.
//! It stands in for the real server on purpose: these tests are about the client's request.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use roma_assets::client::{Client, Error, UploadFile, UploadProgress, types};

const IMPORT_PATH: &str = "/v2/{project_id}/instances/{instance_id}/assets/import";
const FILE_LEN: u64 = 8 * 1024 * 1024;

/// Byte `i` of every test file; a server comparing against it notices any reordering or loss.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// What the server saw of one part.
#[derive(Debug, Clone, PartialEq)]
struct SeenPart {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: u64,
    matches_pattern: bool,
}

#[derive(Debug, Default)]
struct Seen {
    query: Option<String>,
    parts: Vec<SeenPart>,
}

#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    /// What to answer once the request is read.
    reply: fn() -> Response,
}

/// Reads every part chunk by chunk (never the whole part at once), records it, then replies.
async fn import(
    State(recorder): State<Recorder>,
    RawQuery(query): RawQuery,
    mut multipart: Multipart,
) -> Response {
    let mut parts = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .expect("a well-formed multipart body")
    {
        let mut part = SeenPart {
            name: field.name().map(str::to_string),
            file_name: field.file_name().map(str::to_string),
            content_type: field.content_type().map(str::to_string),
            bytes: 0,
            matches_pattern: true,
        };
        while let Some(chunk) = field.chunk().await.expect("a complete part") {
            for (offset, byte) in chunk.iter().enumerate() {
                part.matches_pattern &= *byte == pattern(part.bytes + offset as u64);
            }
            part.bytes += chunk.len() as u64;
        }
        parts.push(part);
    }
    *recorder.seen.lock().unwrap() = Seen { query, parts };
    (recorder.reply)()
}

/// A JSON response (axum's `Json` needs a feature the project does not enable).
fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Starts the recording server; returns its base URL and what it saw.
async fn serve(reply: fn() -> Response) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route(IMPORT_PATH, post(import))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(Recorder {
            seen: seen.clone(),
            reply,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn ids() -> (types::ProjectId, types::InstanceId) {
    ("p-1".parse().unwrap(), "i-1".parse().unwrap())
}

/// Writes `len` pattern bytes to a temporary file, 64 KiB at a time.
fn pattern_file(len: u64) -> tempfile::TempPath {
    use std::io::Write;
    let mut file = tempfile::Builder::new().suffix(".zip").tempfile().unwrap();
    let mut written = 0;
    while written < len {
        let chunk: Vec<u8> = (written..len.min(written + 64 * 1024))
            .map(pattern)
            .collect();
        file.write_all(&chunk).unwrap();
        written += chunk.len() as u64;
    }
    file.into_temp_path()
}

#[tokio::test]
async fn import_asset_streams_the_file_with_its_name_query_and_progress() {
    let (base, seen) = serve(|| {
        json(
            StatusCode::OK,
            serde_json::json!({ "job_id": "ff8080814dbd65d7014dbe0d84db0013" }),
        )
    })
    .await;
    let path = pattern_file(FILE_LEN);
    let file_name = path.file_name().unwrap().to_str().unwrap().to_string();
    let progress = Arc::new(Mutex::new(Vec::<UploadProgress>::new()));
    let file = UploadFile::from_path(&path).await.unwrap().with_progress({
        let progress = progress.clone();
        move |p| progress.lock().unwrap().push(p)
    });
    assert_eq!(file.length(), Some(FILE_LEN));
    assert_eq!(file.file_name(), file_name);

    let client = Client::new_with_client(&base, reqwest::Client::new(), Default::default());
    let (project, instance) = ids();
    let prefix = types::ImportAssetPrefix::try_from("new_").unwrap();
    let response = client
        .import_asset(
            &project,
            &instance,
            Some(types::ImportAssetMode::Merge),
            Some(&prefix),
            file,
        )
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .into_inner()
            .job_id
            .as_deref()
            .map(|id| id.as_str()),
        Some("ff8080814dbd65d7014dbe0d84db0013")
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.query.as_deref(), Some("mode=Merge&prefix=new_"));
    assert_eq!(
        seen.parts,
        [SeenPart {
            name: Some("ImportAssetRequestBody".into()),
            file_name: Some(file_name),
            // The document's first `encoding.contentType` for the part.
            content_type: Some("application/zip".into()),
            bytes: FILE_LEN,
            matches_pattern: true,
        }]
    );
    let progress = progress.lock().unwrap();
    assert!(
        progress.len() > 1,
        "progress reported once per chunk, got {progress:?}"
    );
    assert!(
        progress.windows(2).all(|w| w[0].sent < w[1].sent),
        "progress not monotonic"
    );
    assert!(progress.iter().all(|p| p.total == Some(FILE_LEN)));
    assert_eq!(progress.last().unwrap().sent, FILE_LEN);
}

#[tokio::test]
async fn import_asset_returns_a_documented_error_status_as_error_response() {
    let (base, seen) = serve(|| {
        let body = serde_json::json!({
            "error_code": "ROMA.10013",
            "error_msg": "not a .zip, or a bad file name",
            "request_id": "13760c1fe8655e61209b75665e9bef43",
        });
        json(StatusCode::BAD_REQUEST, body)
    })
    .await;
    // A source of unknown length, sent in chunks, with the caller's content type.
    let chunks = (0..4u64).map(|n| {
        Ok::<_, std::io::Error>(bytes::Bytes::from(
            (n * 10..n * 10 + 10).map(pattern).collect::<Vec<_>>(),
        ))
    });
    let file = UploadFile::from_stream("notes.txt", futures_util::stream::iter(chunks), None)
        .with_content_type("text/plain");

    let client = Client::new_with_client(&base, reqwest::Client::new(), Default::default());
    let (project, instance) = ids();
    let error = client
        .import_asset(&project, &instance, None, None, file)
        .await
        .unwrap_err();

    let Error::ErrorResponse(body) = error else {
        panic!("expected Error::ErrorResponse, got {error:?}")
    };
    assert_eq!(body.status(), 400);
    assert_eq!(body.error_code.as_str(), "ROMA.10013");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.query, None, "no query parameters were given");
    assert_eq!(seen.parts.len(), 1);
    assert_eq!(seen.parts[0].content_type.as_deref(), Some("text/plain"));
    assert_eq!(seen.parts[0].file_name.as_deref(), Some("notes.txt"));
    assert_eq!(
        (seen.parts[0].bytes, seen.parts[0].matches_pattern),
        (40, true)
    );
}
