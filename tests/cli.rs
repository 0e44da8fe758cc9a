//! The `roma-assets` binary end to end: each test starts the reference server in-process on
//! 127.0.0.1:0 (seeded with the demo instance) and runs the real binary against it, checking
//! what a user sees: files written, JSON printed, exit codes, error codes and request ids.

mod support;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use roma_assets::cli::serve::default_max_upload_bytes;
use roma_assets::service::auth::Credentials;
use roma_assets::service::package::PackageLimits;
use roma_assets::service::{Service, ServiceConfig};

const TOKEN: &str = "cli-test-token";
const ACCESS_KEY: &str = "CLITESTAK00000000001";
const SECRET_KEY: &str = "cli-test-secret-key";

/// The reference server on a runtime of its own, serving while the test runs the binary.
struct Server {
    base: String,
    dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
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
        let mut tokens = Credentials::default();
        tokens.insert("demo", TOKEN);
        tokens
            .parse_key_spec(&format!("demo={ACCESS_KEY}:{SECRET_KEY}"))
            .unwrap();
        let service = Service::open(ServiceConfig {
            data_dir,
            credentials: tokens,
            package_limits: PackageLimits::default(),
            job_min_duration: Duration::ZERO,
            database_url: None,
            job_lease: roma_assets::service::store::DEFAULT_LEASE,
            blob_store: None,
        })
        .await
        .expect("opening the service");
        service.seed_demo("demo", "demo").await.expect("seeding");
        support::serve(service.router(default_max_upload_bytes())).await
    });
    Server {
        base,
        dir,
        _runtime: runtime,
    }
}

impl Server {
    /// The binary, pointed at this server through the environment.
    fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roma-assets"));
        cmd.env("ROMA_ASSETS_ENDPOINT", &self.base)
            .env("ROMA_ASSETS_PROJECT", "demo")
            .env("ROMA_ASSETS_INSTANCE", "demo")
            .env("ROMA_ASSETS_TOKEN", TOKEN)
            .env_remove("RUST_LOG")
            .timeout(Duration::from_secs(60));
        cmd
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Exports the orders app with its two tasks to `name` in the test's directory.
    fn export_orders(&self, name: &str) -> std::path::PathBuf {
        let file = self.path(name);
        self.cli()
            .args(["export", "--app", "demo-app-orders"])
            .args([
                "--task",
                "demo-task-orders-sync",
                "demo-task-orders-archive",
            ])
            .args(["--wait", "-o"])
            .arg(&file)
            .assert()
            .success();
        file
    }
}

fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(output)
        )
    })
}

#[test]
fn export_wait_writes_the_package_and_inspect_lists_its_assets() {
    let server = server();
    let file = server.path("orders.zip");
    server
        .cli()
        .args(["export", "--app", "demo-app-orders"])
        .args(["--task", "demo-task-orders-sync", "--wait", "-o"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("SUCCEEDED"))
        .stdout(predicate::str::contains("wrote "));
    assert!(file.is_file());
    assert!(
        !server.path("orders.zip.part").exists(),
        "the .part file is renamed"
    );

    let out = server
        .cli()
        .args(["package", "inspect", "--json"])
        .arg(&file)
        .assert()
        .success();
    let package = json(&out.get_output().stdout);
    assert_eq!(package["apps"][0]["id"], "demo-app-orders");
    assert_eq!(package["apps"][0]["name"], "orders");
    assert_eq!(package["tasks"][0]["id"], "demo-task-orders-sync");
    assert_eq!(package["source"]["project_id"], "demo");

    server
        .cli()
        .args(["package", "inspect"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("orders-sync"));
}

#[test]
fn export_json_reports_the_job_and_the_download() {
    let server = server();
    let file = server.path("billing.zip");
    let out = server
        .cli()
        .args(["export", "--json", "--app", "demo-app-billing", "-o"])
        .arg(&file)
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    assert_eq!(report["job"]["status"], "SUCCEEDED");
    assert_eq!(report["job"]["type"], "exportAsset");
    assert_eq!(report["job_id"], report["job"]["id"]);
    let bytes = std::fs::metadata(&file).expect("the package").len();
    assert_eq!(report["download"]["bytes"], bytes);
}

#[test]
fn import_with_a_prefix_creates_prefixed_tasks() {
    let server = server();
    let file = server.export_orders("orders.zip");
    server
        .cli()
        .args(["import", "--prefix", "stg_", "--wait"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("SUCCEEDED"));

    let out = server
        .cli()
        .args(["tasks", "--json", "--name", "stg_"])
        .assert()
        .success();
    let page = json(&out.get_output().stdout);
    let mut names: Vec<&str> = page["entities"]
        .as_array()
        .expect("a task list")
        .iter()
        .map(|t| t["task_name"].as_str().expect("a name"))
        .collect();
    names.sort();
    assert_eq!(names, ["stg_orders-archive", "stg_orders-sync"]);

    let out = server
        .cli()
        .args(["apps", "--json", "--name", "stg_"])
        .assert()
        .success();
    assert_eq!(
        json(&out.get_output().stdout)["apps"][0]["name"],
        "stg_orders"
    );
}

#[test]
fn importing_the_same_package_twice_fails_the_job_with_exit_3_and_its_reasons() {
    let server = server();
    let file = server.export_orders("orders.zip");
    server
        .cli()
        .args(["import", "--prefix", "twice_", "--wait"])
        .arg(&file)
        .assert()
        .success();

    // The second time every name exists: AddNew fails the job.
    let out = server
        .cli()
        .args(["import", "--json", "--mode", "AddNew", "--prefix", "twice_"])
        .arg(&file)
        .assert()
        .success();
    let job_id = json(&out.get_output().stdout)["job_id"]
        .as_str()
        .expect("a job id")
        .to_string();

    server
        .cli()
        .args(["job", &job_id, "--wait"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("FAILED"))
        .stdout(predicate::str::contains("ROMA.10040"))
        .stdout(predicate::str::contains("twice_orders"));

    let out = server
        .cli()
        .args(["job", &job_id, "--json"])
        .assert()
        .code(3);
    let job = json(&out.get_output().stdout);
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["reasons"][0]["error_code"], "ROMA.10040");
}

#[test]
fn a_wrong_token_exits_1_with_the_error_code_and_request_id() {
    let server = server();
    let out = server
        .cli()
        .args(["apps", "--token", "not-the-token"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ROMA.1002"))
        .stderr(predicate::str::contains("HTTP 401"));
    let request_id = request_id_line(&out.get_output().stderr);
    assert!(!request_id.is_empty());
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        !stderr.contains("not-the-token"),
        "the token is echoed: {stderr}"
    );

    // With --json the same failure is also one JSON document on stdout.
    let out = server
        .cli()
        .args(["apps", "--json", "--token", "not-the-token"])
        .assert()
        .code(1);
    let error = json(&out.get_output().stdout);
    assert_eq!(error["error"]["error_code"], "ROMA.1002");
    assert_eq!(error["error"]["status"], 401);
    assert_eq!(
        error["error"]["request_id"],
        request_id_line(&out.get_output().stderr)
    );
}

/// The `request id: …` line of an error report.
fn request_id_line(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("request id: "))
        .unwrap_or_else(|| panic!("no request id in {stderr}"))
        .trim()
        .to_string()
}

#[test]
fn apps_json_lists_the_demo_apps() {
    let server = server();
    let out = server.cli().args(["apps", "--json"]).assert().success();
    let page = json(&out.get_output().stdout);
    assert_eq!(page["total"], 3);
    let ids: Vec<&str> = page["apps"]
        .as_array()
        .expect("an app list")
        .iter()
        .map(|a| a["id"].as_str().expect("an id"))
        .collect();
    for id in ["demo-app-orders", "demo-app-billing", "demo-app-crm"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    let out = server
        .cli()
        .args(["apps", "--json", "--limit", "1", "--offset", "1"])
        .assert()
        .success();
    let page = json(&out.get_output().stdout);
    assert_eq!(
        (page["total"].as_u64(), page["size"].as_u64()),
        (Some(3), Some(1))
    );
}

#[test]
fn download_refuses_to_overwrite_without_force_and_leaves_the_archive_on_the_server() {
    let server = server();
    let out = server
        .cli()
        .args(["export", "--json", "--wait", "--app", "demo-app-crm"])
        .assert()
        .success();
    let archive = json(&out.get_output().stdout)["job"]["archive_id"]
        .as_str()
        .expect("an archive id")
        .to_string();

    let file = server.path("crm.zip");
    std::fs::write(&file, b"precious").expect("writing");
    server
        .cli()
        .args(["download", &archive, "-o"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read(&file).expect("reading"), b"precious");

    // The refusal happened before the request: the one download is still there to take.
    server
        .cli()
        .args(["download", &archive, "--force", "-o"])
        .arg(&file)
        .assert()
        .success();
    server
        .cli()
        .args(["package", "inspect"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("crm"));

    // Served once: a second download is the server's 404.
    server
        .cli()
        .args(["download", &archive, "-o"])
        .arg(server.path("again.zip"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ROMA.10021"));
    assert!(!server.path("again.zip").exists());
    assert!(!server.path("again.zip.part").exists());
}

/// A zip holding one entry named `name`.
fn zip_with_entry(path: &Path, name: &str) {
    let file = std::fs::File::create(path).expect("creating the zip");
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(name, zip::write::SimpleFileOptions::default())
        .expect("an entry");
    zip.write_all(b"{}").expect("writing the entry");
    zip.finish().expect("finishing the zip");
}

#[test]
fn package_inspect_refuses_a_hostile_package_with_the_servers_error_code() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let evil = dir.path().join("evil.zip");
    zip_with_entry(&evil, "../evil.json");
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["package", "inspect"])
        .arg(&evil)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ROMA.10030"))
        .stderr(predicate::str::contains("../evil.json"));

    let out = Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["package", "inspect", "--json"])
        .arg(&evil)
        .assert()
        .code(1);
    assert_eq!(
        json(&out.get_output().stdout)["error"]["error_code"],
        "ROMA.10030"
    );

    let not_zip = dir.path().join("notes.zip");
    std::fs::write(&not_zip, b"not a zip at all").expect("writing");
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["package", "inspect"])
        .arg(&not_zip)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ROMA.10011"));
}

#[test]
fn usage_errors_exit_2_and_the_token_never_shows_in_help() {
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["export", "--wait"])
        .env("ROMA_ASSETS_PROJECT", "demo")
        .env("ROMA_ASSETS_INSTANCE", "demo")
        .env("ROMA_ASSETS_TOKEN", "t")
        .assert()
        .code(2);
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["import", "x.zip", "--mode", "Replace"])
        .assert()
        .code(2);
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["apps", "--help"])
        .env("ROMA_ASSETS_TOKEN", "super-secret-token")
        .assert()
        .success()
        .stdout(predicate::str::contains("ROMA_ASSETS_TOKEN"))
        .stdout(predicate::str::contains("super-secret-token").not());
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        Command::new(env!("CARGO_BIN_EXE_roma-assets"))
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("roma-assets"))
            .stdout(predicate::str::contains("export"));
    }
}

#[test]
fn an_unreachable_server_is_an_error_not_a_hang() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["job", "some-job"])
        .env("ROMA_ASSETS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("ROMA_ASSETS_PROJECT", "demo")
        .env("ROMA_ASSETS_INSTANCE", "demo")
        .env("ROMA_ASSETS_TOKEN", TOKEN)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("talking to the server"));
}

#[test]
fn ak_sk_from_the_official_sdks_variables_sign_every_request() {
    let server = server();
    let file = server.path("signed.zip");
    server
        .cli()
        .env_remove("ROMA_ASSETS_TOKEN")
        .env_remove("ROMA_ASSETS_PROJECT")
        .env("HUAWEICLOUD_SDK_AK", ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", SECRET_KEY)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", "demo")
        .args(["export", "--app", "demo-app-orders", "--wait", "--output"])
        .arg(&file)
        .assert()
        .success();
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    // A wrong SK: the server's signature refusal, its code and request id, never the SK.
    let assert = server
        .cli()
        .env_remove("ROMA_ASSETS_TOKEN")
        .env("HUAWEICLOUD_SDK_AK", ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", "wrong-secret-key")
        .args(["apps"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("APIG.0301"), "{stderr}");
    assert!(stderr.contains("request id:"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-key"), "{stderr}");
}

#[test]
fn a_missing_or_half_credential_is_a_usage_error_naming_the_variables() {
    let server = server();
    let run = |ak: Option<&str>, sk: Option<&str>| {
        let mut cmd = server.cli();
        cmd.env_remove("ROMA_ASSETS_TOKEN")
            .env_remove("HUAWEICLOUD_SDK_AK")
            .env_remove("HUAWEICLOUD_SDK_SK");
        if let Some(ak) = ak {
            cmd.env("HUAWEICLOUD_SDK_AK", ak);
        }
        if let Some(sk) = sk {
            cmd.env("HUAWEICLOUD_SDK_SK", sk);
        }
        let output = cmd.arg("apps").assert().code(2).get_output().clone();
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let none = run(None, None);
    assert!(
        none.contains("ROMA_ASSETS_TOKEN") && none.contains("HUAWEICLOUD_SDK_AK"),
        "{none}"
    );
    assert!(run(Some(ACCESS_KEY), None).contains("HUAWEICLOUD_SDK_SK"));
    assert!(run(None, Some(SECRET_KEY)).contains("HUAWEICLOUD_SDK_AK"));
}

/// The binary, for the demo instance of the server at `base` (as `spawn_serve` starts it).
fn cli_at(base: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roma-assets"));
    cmd.env("ROMA_ASSETS_ENDPOINT", base)
        .env("ROMA_ASSETS_PROJECT", "demo")
        .env("ROMA_ASSETS_INSTANCE", "demo")
        .env("ROMA_ASSETS_TOKEN", "t")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

/// Starts `roma-assets serve --demo` (token `t`) on a free port over `data` with `extra`
/// arguments, and waits for its banner.
fn spawn_serve(data: &Path, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "demo=t",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut base = String::new();
    for line in lines.by_ref() {
        let line = line.expect("reading the banner");
        if let Some(url) = line.trim().strip_prefix("base URL:") {
            base = url.trim().to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "serve printed no base URL");
    // Keep reading: a closed pipe would make the server's next banner line fail.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused_until_the_first_dies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, _) = spawn_serve(&data, &[]);
    let refused = Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["serve", "--listen", "127.0.0.1:0", "--token", "demo=t"])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");

    // kill -9: no graceful shutdown, the lock goes with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut second, base) = spawn_serve(&data, &[]);
    let health = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(health, "ok\n", "the second server serves");
    second.kill().unwrap();
    second.wait().unwrap();
}

#[test]
fn a_package_name_the_server_refuses_is_caught_before_upload_and_upload_name_fixes_it() {
    let server = server();
    let exported = server.export_orders("orders.zip");
    let awkward = server.path("orders (1).zip");
    std::fs::copy(&exported, &awkward).unwrap();

    let refused = server.cli().arg("import").arg(&awkward).assert().code(1);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        stderr.contains(r#"file name "orders (1).zip" refused"#),
        "{stderr}"
    );
    assert!(stderr.contains("--upload-name"), "{stderr}");

    let inspect = server
        .cli()
        .args(["package", "inspect"])
        .arg(&awkward)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&inspect.get_output().stderr).to_string();
    assert!(stderr.contains("ROMA.10013"), "{stderr}");

    server
        .cli()
        .env("ROMA_ASSETS_INSTANCE", "renamed")
        .arg("import")
        .arg(&awkward)
        .args(["--upload-name", "orders.zip", "--wait"])
        .assert()
        .success();

    let directory = server
        .cli()
        .arg("import")
        .arg(server.path(""))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&directory.get_output().stderr).to_string();
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn a_kill_9_during_a_job_leaves_it_failed_with_a_reason_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, base) = spawn_serve(&data, &["--job-min-duration-ms", "30000"]);
    let started = cli_at(&base)
        .args(["export", "--app", "demo-app-crm"])
        .assert()
        .success();
    let job = String::from_utf8_lossy(&started.get_output().stdout)
        .split_whitespace()
        .last()
        .expect("the job id")
        .to_string();
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, base) = spawn_serve(&data, &[]);
    let status = cli_at(&base).args(["job", &job, "--json"]).assert().code(3);
    let status = json(&status.get_output().stdout);
    assert_eq!(status["status"], "FAILED", "{status}");
    assert_eq!(status["reasons"][0]["error_code"], "ROMA.10010", "{status}");
    assert_eq!(
        status["reasons"][0]["error_msg"],
        "the server restarted while the job ran"
    );
    // The project's job slot is free again.
    cli_at(&base)
        .args(["export", "--app", "demo-app-crm", "--wait", "-o"])
        .arg(dir.path().join("crm.zip"))
        .assert()
        .success();
    second.kill().unwrap();
    second.wait().unwrap();
}

#[test]
fn a_kill_9_during_a_deletion_deletes_nothing_and_frees_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, base) = spawn_serve(&data, &["--job-min-duration-ms", "30000"]);
    let started = cli_at(&base)
        .args([
            "delete",
            "--app",
            "demo-app-crm",
            "--task",
            "demo-task-crm-contacts",
        ])
        .assert()
        .success();
    let job = String::from_utf8_lossy(&started.get_output().stdout)
        .trim()
        .to_string();
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, base) = spawn_serve(&data, &[]);
    let status = cli_at(&base).args(["job", &job, "--json"]).assert().code(3);
    let status = json(&status.get_output().stdout);
    assert_eq!(status["type"], "deleteAsset", "{status}");
    assert_eq!(status["status"], "FAILED", "{status}");
    assert_eq!(status["reasons"][0]["error_code"], "ROMA.10010", "{status}");
    let apps = cli_at(&base).args(["apps", "--json"]).assert().success();
    let apps = json(&apps.get_output().stdout);
    assert_eq!(apps["total"], 3, "nothing was deleted: {apps}");
    // The project's job slot is free: the same deletion now runs to its end.
    cli_at(&base)
        .args([
            "delete",
            "--app",
            "demo-app-crm",
            "--task",
            "demo-task-crm-contacts",
            "--wait",
        ])
        .assert()
        .success();
    let apps = cli_at(&base).args(["apps", "--json"]).assert().success();
    assert_eq!(json(&apps.get_output().stdout)["total"], 2);
    second.kill().unwrap();
    second.wait().unwrap();
}

#[test]
fn connection_flags_go_before_or_after_the_subcommand_and_bad_endpoints_are_usage_errors() {
    let server = server();
    let before = server
        .cli()
        .env_remove("ROMA_ASSETS_INSTANCE")
        .args(["--instance", "demo", "--json", "apps"])
        .assert()
        .success();
    assert_eq!(json(&before.get_output().stdout)["total"], 3);
    let after = server
        .cli()
        .env_remove("ROMA_ASSETS_INSTANCE")
        .args(["apps", "--instance", "demo", "--json"])
        .assert()
        .success();
    assert_eq!(json(&after.get_output().stdout)["total"], 3);

    let missing = server
        .cli()
        .env_remove("ROMA_ASSETS_INSTANCE")
        .arg("apps")
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&missing.get_output().stderr).contains("ROMA_ASSETS_INSTANCE"));
    let address = server.base.trim_start_matches("http://").to_string();
    let schemeless = server
        .cli()
        .args(["--endpoint", &address, "apps"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&schemeless.get_output().stderr).to_string();
    assert!(stderr.contains(&format!("http://{address}")), "{stderr}");
    let v2 = server
        .cli()
        .args(["--endpoint", &format!("{}/v2", server.base), "apps"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&v2.get_output().stderr).contains("without /v2"));
}

#[test]
fn instances_lists_what_the_project_holds_and_an_empty_instance_is_pointed_out() {
    let server = server();
    let listed = server
        .cli()
        .args(["instances", "--json"])
        .env_remove("ROMA_ASSETS_INSTANCE")
        .assert()
        .success();
    let page = json(&listed.get_output().stdout);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["instances"][0]["id"], "demo");
    assert_eq!(page["instances"][0]["status"], "RUNNING");
    let typo = server
        .cli()
        .args(["--instance", "dmeo", "apps"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&typo.get_output().stderr).to_string();
    assert!(
        stderr.contains(r#"instance "dmeo" holds nothing"#),
        "{stderr}"
    );
}

#[test]
fn an_ephemeral_server_keeps_nothing_after_it_stops() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args([
            "serve",
            "--demo",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "demo=t",
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut data_dir = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("data dir:") {
            let dir = rest
                .trim()
                .trim_end_matches(" (ephemeral: removed at exit)");
            data_dir = Some(std::path::PathBuf::from(dir));
        }
        if line.contains("spec:") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let data_dir = data_dir.expect("the banner names the data dir");
    assert!(data_dir.join("lock").exists(), "{}", data_dir.display());
    // SIGTERM: the graceful shutdown, then the directory goes.
    std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(!data_dir.exists(), "{} is still there", data_dir.display());
}
