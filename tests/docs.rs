//! `/docs`, the document rendered by the vendored swagger-ui, as a person's browser shows it.
//!
//! Each test starts the reference server in-process on 127.0.0.1:0 (seeded with the demo
//! instance), behind the conformance layer with the docs paths added to the paths outside the
//! document. The first checks over HTTP that the page and its two assets are served from the
//! binary (the vendored bytes, content types, cache headers) and that the page names nothing
//! outside the server. The second loads `/docs` in headless Chromium, lets it render (virtual
//! time, so no sleeping), and checks the rendered DOM: every operation of
//! `openapi/roma-assets.yaml` (read from the YAML, not listed here) is there with its method,
//! path and summary; the Servers list names only the page's own origin, so "Try it out" sends
//! to this server; and the deep-linked first operation (by path) is open in try-it-out mode (its
//! Execute button is shown). The screenshot of that page is kept at `target/docs/docs.png`, a CI
//! artifact.
//!
//! Without Chromium (`chromium`, `chromium-browser` or `google-chrome` on the PATH) the second
//! test fails when the environment variable `CI` is set (CI installs Debian's `chromium`), and
//! otherwise prints why and returns, passing: install it with `apt-get install chromium`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roma_assets::service::auth::Credentials;
use roma_assets::service::docs::SWAGGER_UI_VERSION;
use roma_assets::service::package::PackageLimits;
use roma_assets::service::{Service, ServiceConfig};
use serde_json::Value;

/// How long Chromium may take in wall time (it renders in virtual time, in about 3 s here).
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// The reference server on a runtime of its own, serving while the test runs Chromium.
struct Server {
    base: String,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn server() -> Server {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let data_dir = dir.path().join("data");
    let base = runtime.block_on(async move {
        let mut credentials = Credentials::default();
        credentials.insert("demo", "docs-test-token");
        let service = Service::open(ServiceConfig {
            data_dir,
            credentials,
            package_limits: PackageLimits::default(),
            job_min_duration: Duration::ZERO,
            database_url: None,
            job_lease: roma_assets::service::store::DEFAULT_LEASE,
            blob_store: None,
        })
        .await
        .expect("opening the service");
        service.seed_demo("demo", "demo").await.expect("seeding");
        support::serve(service.router(64 * 1024 * 1024)).await
    });
    Server {
        base,
        runtime,
        _dir: dir,
    }
}

/// One operation of the document, as swagger-ui should show it.
#[derive(Debug)]
struct Operation {
    method: String,
    path: String,
    operation_id: String,
    summary: String,
    /// The first tag: swagger-ui groups the operation under it.
    tag: String,
}

/// Every operation of `openapi/roma-assets.yaml`, by path (serde_json's maps are sorted).
fn operations() -> Vec<Operation> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/roma-assets.yaml"),
    )
    .expect("reading the document");
    let doc: Value = yaml_serde::from_str(&text).expect("parsing the document");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(op) = item.get(method) else { continue };
            let field = |name: &str| {
                op[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no {name}"))
                    .to_string()
            };
            out.push(Operation {
                method: method.to_string(),
                path: path.clone(),
                operation_id: field("operationId"),
                summary: field("summary"),
                tag: op["tags"][0]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no tag"))
                    .to_string(),
            });
        }
    }
    assert!(!out.is_empty(), "the document has no operations");
    out
}

/// swagger-ui's escaping of a tag in element ids and deep links (5.x `escapeDeepLinkPath`, for
/// our tags, which are words and spaces).
fn deep_link(tag: &str) -> String {
    tag.trim().replace(' ', "_")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn vendored(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/swagger-ui")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let server = server();
    let base = server.base.clone();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        server.runtime.block_on(async move {
            let response = reqwest::get(&url).await.expect("GET");
            assert_eq!(response.status(), 200, "GET {url}");
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let (content_type, cache) = (header("content-type"), header("cache-control"));
            let body = response.bytes().await.expect("a body").to_vec();
            (content_type, cache, body)
        })
    };

    let (content_type, cache, page) = get("/docs");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(cache, "no-cache");
    let page = String::from_utf8(page).expect("a UTF-8 page");
    for needle in [
        format!(r#"src="/docs/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}""#),
        format!(r#"href="/docs/swagger-ui.css?v={SWAGGER_UI_VERSION}""#),
        r#"fetch("/openapi.json")"#.to_string(),
        "tryItOutEnabled: true".to_string(),
        "window.location.origin".to_string(),
        "validatorUrl: null".to_string(),
    ] {
        assert!(page.contains(&needle), "the page lacks {needle}:\n{page}");
    }
    // Nothing from a CDN or any other host: the page names no absolute URL.
    assert!(
        !page.contains("://"),
        "the page names another host:\n{page}"
    );

    let (content_type, cache, bundle) = get("/docs/swagger-ui-bundle.js");
    assert_eq!(content_type, "text/javascript; charset=utf-8");
    assert_eq!(cache, "public, max-age=604800");
    assert!(
        bundle == vendored("swagger-ui-bundle.js"),
        "the bundle is not the vendored one"
    );
    let version = format!(r#"PACKAGE_VERSION:"{SWAGGER_UI_VERSION}""#);
    assert!(
        bundle
            .windows(version.len())
            .any(|w| w == version.as_bytes()),
        "the vendored bundle is not swagger-ui {SWAGGER_UI_VERSION} (update SWAGGER_UI_VERSION)"
    );

    let (content_type, cache, css) = get("/docs/swagger-ui.css");
    assert_eq!(content_type, "text/css; charset=utf-8");
    assert_eq!(cache, "public, max-age=604800");
    assert!(
        css == vendored("swagger-ui.css"),
        "the style sheet is not the vendored one"
    );
}

/// The first Chromium on the PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs `chromium` with `args`, killing it after [`CHROMIUM_TIMEOUT`]; returns its stdout.
fn run_chromium(chromium: &Path, args: &[String]) -> String {
    let out = tempfile::tempdir().expect("a temporary directory");
    let (stdout, stderr) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut child = Command::new(chromium)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromium.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for Chromium") {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium took longer than {CHROMIUM_TIMEOUT:?}; its stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "Chromium failed ({status}); its stderr:\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout).expect("Chromium's output")
}

#[test]
fn chromium_renders_every_operation_with_try_it_out_against_this_server() {
    let Some(chromium) = chromium() else {
        let why = "no Chromium (chromium, chromium-browser or google-chrome) on the PATH; \
                   install Debian's with `apt-get install chromium`";
        if std::env::var_os("CI").is_some() {
            panic!("{why} (CI is set, so this test must run)");
        }
        eprintln!("skipping the /docs rendering test: {why}");
        return;
    };
    let operations = operations();
    let server = server();

    // target/docs/docs.png, wherever the target directory is.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target>/tmp");
    let screenshot = target.join("docs").join("docs.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).expect("creating target/docs");
    let dump = target.join("docs").join("docs.html");
    let _ = std::fs::remove_file(&screenshot);
    let _ = std::fs::remove_file(&dump);
    let profile = tempfile::tempdir().expect("a Chromium profile directory");

    // Deep-linked to the first operation, so that it is open (in try-it-out mode) on the
    // screenshot and in the DOM.
    let first = &operations[0];
    let url = format!(
        "{}/docs#/{}/{}",
        server.base,
        deep_link(&first.tag),
        first.operation_id
    );
    let started = Instant::now();
    let dom = run_chromium(
        &chromium,
        &[
            "--headless".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=15000".into(),
            "--window-size=1280,2400".into(),
            format!("--screenshot={}", screenshot.display()),
            "--dump-dom".into(),
            url.clone(),
        ],
    );
    eprintln!(
        "Chromium rendered {url} in {:.1} s; screenshot at {}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );

    let mut problems = Vec::new();
    // One operation block per operation: none missing, none extra.
    let blocks = dom.matches(r#"class="opblock opblock-"#).count();
    if blocks != operations.len() {
        problems.push(format!(
            "{blocks} operation blocks rendered, the document has {} operations",
            operations.len()
        ));
    }
    for op in &operations {
        let id = format!(
            r#"id="operations-{}-{}""#,
            deep_link(&op.tag),
            op.operation_id
        );
        let name = format!("{} {} ({})", op.method, op.path, op.operation_id);
        match dom.find(&id) {
            None => problems.push(format!("{name}: no element {id}")),
            Some(at) => {
                // The element's opening tag carries the method's class.
                let start = dom[..at].rfind('<').unwrap_or(0);
                let end = at + dom[at..].find('>').unwrap_or(0);
                let class = format!("opblock-{}", op.method);
                if !dom[start..end].contains(&class) {
                    problems.push(format!("{name}: {} has no class {class}", &dom[start..end]));
                }
            }
        }
        let path = format!(r#"data-path="{}""#, html_escape(&op.path));
        if !dom.contains(&path) {
            problems.push(format!("{name}: no {path}"));
        }
        let summary = format!(
            r#"class="opblock-summary-description">{}<"#,
            html_escape(&op.summary)
        );
        if !dom.contains(&summary) {
            problems.push(format!("{name}: its summary {:?} is not shown", op.summary));
        }
    }
    // Try it out sends to the page's origin, and only there.
    match dom.split_once(r#"<select id="servers">"#) {
        None => problems.push("no Servers list".into()),
        Some((_, rest)) => {
            let servers = rest.split("</select>").next().unwrap_or_default();
            let expected = format!(r#"<option value="{}">"#, server.base);
            if !servers.contains(&expected) || servers.matches("<option").count() != 1 {
                problems.push(format!(
                    "the Servers list is not just {}: {servers}",
                    server.base
                ));
            }
        }
    }
    if !dom.contains(r#"class="btn execute"#) {
        problems.push(format!(
            "{} is not open in try-it-out mode (no Execute button)",
            first.operation_id
        ));
    }
    if !dom.contains(r#"class="btn authorize"#) {
        problems.push("no Authorize button".into());
    }

    let png = std::fs::read(&screenshot).unwrap_or_default();
    if !png.starts_with(b"\x89PNG") {
        problems.push(format!("no screenshot at {}", screenshot.display()));
    }
    if !problems.is_empty() {
        let _ = std::fs::write(&dump, &dom);
        panic!(
            "/docs as Chromium rendered it (DOM in {}):\n- {}",
            dump.display(),
            problems.join("\n- ")
        );
    }
}
