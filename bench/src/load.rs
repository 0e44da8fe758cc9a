//! The load test: 32 concurrent clients doing mixed export, download, import, re-import, status
//! and list calls across 4 projects against `roma-assets serve` (release build, jobs kept RUNNING
//! at least 20 ms so that the one-job-per-project rule is contended), until a fixed number of jobs
//! has been accepted (or a deadline passes). Then it checks what a user would rely on:
//!
//! - every accepted job ended SUCCEEDED or FAILED, a FAILED one with reasons, and each ended as
//!   expected (exports naming an unknown id fail with ROMA.10041, AddNew re-imports of a package
//!   already imported fail with ROMA.10040, everything else succeeds);
//! - no instance holds a duplicate name, a half-imported package (every import's assets are all
//!   there or none), a task whose app is missing, or an asset no import accounts for;
//! - every archive downloaded once reads back with `read_package` (checksums) and holds exactly
//!   what was asked for, and a second download of it is refused (404 ROMA.10021);
//! - no two jobs of a project were ever RUNNING at once: neither in what the clients observed nor
//!   in the begin/end times the database recorded (read after the server stopped);
//! - the server's resident memory came back near its baseline.
//!
//! Every loop is bounded: by the job count, a deadline, or a retry limit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use roma_assets::client::{Client, Error, InstanceClient, TaskQuery, UploadFile, types};
use roma_assets::service::package::{PackageLimits, read_package};

use crate::procs::{Server, mib};
use crate::report::{Block, Verdict};
use crate::{Ctx, block_on, fixtures, generated_client, id, token_of};

const PROJECTS: usize = 4;
const CLIENTS: usize = 32;
const DST_INSTANCES: usize = 3;
const SRC_APPS: usize = 20;
const SRC_TASKS: usize = 40;
const JOB_MIN_DURATION_MS: u64 = 20;
/// How often one request may be refused as busy (ROMA.10012) before the client gives up on it.
const MAX_BUSY_RETRIES: usize = 1000;
/// How long a job may run before a client gives up following it.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(60);
/// Memory within this much of the baseline counts as back.
const NEAR_BASELINE_MIB: f64 = 16.0;
/// How long the server may rest after each burst before its memory is read.
const SETTLE_SECS: u64 = 15;
/// The load comes in this many equal bursts, so that memory can be seen to level off.
const PHASES: usize = 3;
/// Growth from one burst to the next below this counts as levelled off.
const PLATEAU_MIB: f64 = 4.0;

fn project_name(p: usize) -> String {
    format!("ld{p}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Export,
    Import,
    Reimport,
}

#[derive(Debug, Clone)]
enum Expect {
    Succeed,
    FailWith(&'static str),
}

/// One accepted job as a client saw it.
#[derive(Debug, Clone)]
struct JobRecord {
    id: String,
    project: usize,
    instance: String,
    kind: Kind,
    expect: Expect,
    /// (sent, received) of each status poll that answered RUNNING.
    running: Vec<(Instant, Instant)>,
    last: Option<types::CheckAssetJobStatusResponse>,
}

/// One import as a client made it.
#[derive(Debug, Clone)]
struct ImportRecord {
    project: usize,
    instance: String,
    prefix: String,
    /// The package's app names.
    apps: Vec<String>,
    /// The package's tasks: (name, its app's name).
    tasks: Vec<(String, String)>,
    package: PathBuf,
    job: String,
    reimport: bool,
    succeeded: bool,
}

#[derive(Debug, Default)]
struct ClientLog {
    jobs: Vec<JobRecord>,
    imports: Vec<ImportRecord>,
    archives_ok: u64,
    archives_bad: Vec<String>,
    second_downloads_refused: u64,
    second_downloads_bad: Vec<String>,
    busy: u64,
    requests: u64,
    errors: Vec<String>,
}

/// The assets of a project's source instance: (id, name) of apps, (id, name, app id) of tasks.
#[derive(Debug, Clone, Default)]
struct Source {
    apps: Vec<(String, String)>,
    tasks: Vec<(String, String, String)>,
}

struct Shared {
    /// Which burst of the load this is (names carry it, so they stay unique).
    phase: usize,
    clients: Vec<Client>,
    sources: Vec<Source>,
    accepted: AtomicUsize,
    target: usize,
    deadline: Instant,
    dir: PathBuf,
}

fn is_refusal(e: &Error<types::ErrorResp>, status: u16, code: &str) -> bool {
    matches!(e, Error::ErrorResponse(rv)
        if rv.status().as_u16() == status && rv.error_code.as_str() == code)
}

fn is_busy(e: &Error<types::ErrorResp>) -> bool {
    is_refusal(e, 400, "ROMA.10012")
}

impl Shared {
    fn done(&self) -> bool {
        self.accepted.load(Ordering::Relaxed) >= self.target || Instant::now() >= self.deadline
    }
}

/// Follows a job to its end, recording the polls that saw it RUNNING.
async fn follow(
    client: &Client,
    project: usize,
    instance: &str,
    job: &str,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> (
    Vec<(Instant, Instant)>,
    Result<types::CheckAssetJobStatusResponse, String>,
) {
    let mut running = Vec::new();
    let ids = (|| Ok::<_, String>((id(&project_name(project))?, id(instance)?, id(job)?)))();
    let (p, i, j) = match ids {
        Ok(ids) => ids,
        Err(e) => return (running, Err(e)),
    };
    let deadline = Instant::now() + FOLLOW_TIMEOUT;
    while Instant::now() < deadline {
        let sent = Instant::now();
        log.requests += 1;
        let status = match client.check_asset_job_status(&p, &i, &j).await {
            Ok(s) => s.into_inner(),
            Err(e) => return (running, Err(format!("status of {job}: {e}"))),
        };
        let received = Instant::now();
        if status.status != types::CheckAssetJobStatusResponseStatus::Running {
            return (running, Ok(status));
        }
        running.push((sent, received));
        tokio::time::sleep(Duration::from_millis(rng.u64(3..=10))).await;
    }
    (
        running,
        Err(format!("job {job} still running after {FOLLOW_TIMEOUT:?}")),
    )
}

/// Records an accepted job and follows it to its end; returns its last status.
async fn track(
    shared: &Shared,
    client: &Client,
    job: JobRecord,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> Option<types::CheckAssetJobStatusResponse> {
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    let (running, last) = follow(client, job.project, &job.instance, &job.id, log, rng).await;
    let last = match last {
        Ok(last) => Some(last),
        Err(e) => {
            log.errors.push(e);
            None
        }
    };
    log.jobs.push(JobRecord {
        running,
        last: last.clone(),
        ..job
    });
    last
}

async fn backoff(rng: &mut fastrand::Rng) {
    tokio::time::sleep(Duration::from_millis(rng.u64(2..=15))).await;
}

/// Export a random selection of the source instance, download and check the archive, and
/// (mostly) import it into a target instance under a new prefix.
async fn export_flow(
    shared: &Shared,
    c: usize,
    n: usize,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> Result<(), String> {
    let p = c % PROJECTS;
    let client = &shared.clients[p];
    let source = &shared.sources[p];
    let (app_count, task_count) = (rng.usize(1..=4), rng.usize(0..=6));
    let mut apps: Vec<String> = rng
        .choose_multiple(source.apps.iter(), app_count)
        .into_iter()
        .map(|(id, _)| id.clone())
        .collect();
    let tasks: Vec<&(String, String, String)> =
        rng.choose_multiple(source.tasks.iter(), task_count);
    let unknown = rng.u32(0..10) == 0;
    if unknown {
        apps.push(format!("no-such-app-p{}c{c}n{n}", shared.phase));
    }
    let body = types::AssetExportRequest {
        apps: apps
            .iter()
            .map(|id| types::AssetExportRequestApps {
                id: Some(id.clone()),
            })
            .collect(),
        tasks: tasks
            .iter()
            .map(|(id, _, _)| types::AssetExportRequestTasks {
                id: Some(id.clone()),
            })
            .collect(),
    };
    let (pid, src): (types::ProjectId, types::InstanceId) = (id(&project_name(p))?, id("src")?);
    let mut attempts = 0;
    let job_id = loop {
        if shared.done() || attempts >= MAX_BUSY_RETRIES {
            return Ok(());
        }
        attempts += 1;
        log.requests += 1;
        match client.export_asset(&pid, &src, &body).await {
            Ok(rv) => {
                break rv
                    .into_inner()
                    .job_id
                    .map(String::from)
                    .ok_or("an export answer without a job id")?;
            }
            Err(e) if is_busy(&e) => {
                log.busy += 1;
                backoff(rng).await;
            }
            Err(e) => return Err(format!("export refused: {e}")),
        }
    };
    let record = JobRecord {
        id: job_id.clone(),
        project: p,
        instance: "src".to_string(),
        kind: Kind::Export,
        expect: if unknown {
            Expect::FailWith("ROMA.10041")
        } else {
            Expect::Succeed
        },
        running: Vec::new(),
        last: None,
    };
    let Some(last) = track(shared, client, record, log, rng).await else {
        return Ok(());
    };
    let Some(archive) = last.archive_id.as_deref() else {
        return Ok(());
    };
    let archive: types::ArchiveId = id(archive)?;

    // Download once, check it, and sometimes try a second time.
    log.requests += 1;
    let mut stream = client
        .download_asset_archive(&pid, &src, &archive)
        .await
        .map_err(|e| format!("download of {}: {e}", archive.as_str()))?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| format!("download: {e}"))?);
    }
    let path = shared.dir.join(format!("p{}c{c}n{n}.zip", shared.phase));
    std::fs::write(&path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let read_path = path.clone();
    let package =
        tokio::task::spawn_blocking(move || read_package(&read_path, &PackageLimits::default()))
            .await
            .map_err(|e| e.to_string())?;
    let package = match package {
        Ok(package) => package,
        Err(e) => {
            log.archives_bad
                .push(format!("archive {}: {e}", archive.as_str()));
            return Ok(());
        }
    };
    let wanted_tasks: BTreeSet<&str> = tasks.iter().map(|(id, _, _)| id.as_str()).collect();
    let mut wanted_apps: BTreeSet<&str> = apps.iter().map(String::as_str).collect();
    wanted_apps.extend(tasks.iter().map(|(_, _, app)| app.as_str()));
    let got_apps: BTreeSet<&str> = package.apps.iter().map(|a| a.id.as_str()).collect();
    let got_tasks: BTreeSet<&str> = package.tasks.iter().map(|t| t.id.as_str()).collect();
    if got_apps != wanted_apps || got_tasks != wanted_tasks {
        log.archives_bad.push(format!(
            "archive {} holds apps {got_apps:?} and tasks {got_tasks:?}, asked for {wanted_apps:?} and {wanted_tasks:?}",
            archive.as_str()
        ));
        return Ok(());
    }
    log.archives_ok += 1;
    if rng.u32(0..4) == 0 {
        log.requests += 1;
        match client.download_asset_archive(&pid, &src, &archive).await {
            Err(e) if is_refusal(&e, 404, "ROMA.10021") => log.second_downloads_refused += 1,
            Err(e) => log
                .second_downloads_bad
                .push(format!("second download: {e}")),
            Ok(_) => log
                .second_downloads_bad
                .push(format!("archive {} served twice", archive.as_str())),
        }
    }
    if rng.u32(0..4) == 0 {
        return Ok(());
    }
    let app_names: HashMap<&str, &str> = package
        .apps
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    let record = ImportRecord {
        project: p,
        instance: format!("dst{}", rng.usize(0..DST_INSTANCES)),
        prefix: format!("p{}c{c}n{n}_", shared.phase),
        apps: package.apps.iter().map(|a| a.name.clone()).collect(),
        tasks: package
            .tasks
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    app_names
                        .get(t.app_id.as_str())
                        .map_or_else(String::new, |s| s.to_string()),
                )
            })
            .collect(),
        package: path,
        job: String::new(),
        reimport: false,
        succeeded: false,
    };
    import(
        shared,
        record,
        types::ImportAssetMode::AddNew,
        Expect::Succeed,
        log,
        rng,
    )
    .await
}

/// Imports `record.package` as `record` says, retrying while the project is busy.
async fn import(
    shared: &Shared,
    mut record: ImportRecord,
    mode: types::ImportAssetMode,
    expect: Expect,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> Result<(), String> {
    let client = &shared.clients[record.project];
    let (pid, iid): (types::ProjectId, types::InstanceId) =
        (id(&project_name(record.project))?, id(&record.instance)?);
    let prefix: types::ImportAssetPrefix = id(&record.prefix)?;
    let mut attempts = 0;
    let job_id = loop {
        if shared.done() || attempts >= MAX_BUSY_RETRIES {
            return Ok(());
        }
        attempts += 1;
        let file = UploadFile::from_path(&record.package)
            .await
            .map_err(|e| format!("opening {}: {e}", record.package.display()))?;
        log.requests += 1;
        match client
            .import_asset(&pid, &iid, Some(mode), Some(&prefix), file)
            .await
        {
            Ok(rv) => {
                break rv
                    .into_inner()
                    .job_id
                    .map(String::from)
                    .ok_or("an import answer without a job id")?;
            }
            Err(e) if is_busy(&e) => {
                log.busy += 1;
                backoff(rng).await;
            }
            Err(e) => return Err(format!("import refused: {e}")),
        }
    };
    let job = JobRecord {
        id: job_id.clone(),
        project: record.project,
        instance: record.instance.clone(),
        kind: if record.reimport {
            Kind::Reimport
        } else {
            Kind::Import
        },
        expect,
        running: Vec::new(),
        last: None,
    };
    let last = track(shared, client, job, log, rng).await;
    record.job = job_id;
    record.succeeded =
        last.is_some_and(|s| s.status == types::CheckAssetJobStatusResponseStatus::Succeeded);
    log.imports.push(record);
    Ok(())
}

/// Imports a package this client imported before into the same instance under the same prefix:
/// AddNew must fail (every name exists) and change nothing; Merge must succeed and still leave
/// exactly one asset per name.
async fn reimport_flow(
    shared: &Shared,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> Result<(), String> {
    let done: Vec<&ImportRecord> = log
        .imports
        .iter()
        .filter(|r| !r.reimport && r.succeeded)
        .collect();
    let Some(original) = rng.choice(done) else {
        return Ok(());
    };
    let record = ImportRecord {
        reimport: true,
        ..original.clone()
    };
    let (mode, expect) = if rng.bool() {
        (
            types::ImportAssetMode::AddNew,
            Expect::FailWith("ROMA.10040"),
        )
    } else {
        (types::ImportAssetMode::Merge, Expect::Succeed)
    };
    import(shared, record, mode, expect, log, rng).await
}

/// Reads: the status of one of this client's jobs, and a page of a target instance.
async fn status_flow(
    shared: &Shared,
    c: usize,
    log: &mut ClientLog,
    rng: &mut fastrand::Rng,
) -> Result<(), String> {
    let p = c % PROJECTS;
    let client = &shared.clients[p];
    if let Some(job) = rng.choice(log.jobs.iter()) {
        let (pid, iid, jid): (types::ProjectId, types::InstanceId, types::JobId) =
            (id(&project_name(p))?, id(&job.instance)?, id(&job.id)?);
        log.requests += 1;
        let status = client
            .check_asset_job_status(&pid, &iid, &jid)
            .await
            .map_err(|e| format!("status of {}: {e}", job.id))?
            .into_inner();
        if job.last.as_ref().map(|l| l.status) != Some(status.status) {
            log.errors
                .push(format!("job {} changed status after it ended", job.id));
        }
    }
    let instance = InstanceClient::new(
        client.clone(),
        id(&project_name(p))?,
        id(&format!("dst{}", rng.usize(0..DST_INSTANCES)))?,
    );
    log.requests += 1;
    instance
        .list_tasks(&TaskQuery {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("listing tasks: {e}"))?;
    Ok(())
}

async fn client_loop(shared: Arc<Shared>, c: usize) -> ClientLog {
    let mut rng = fastrand::Rng::with_seed(c as u64 + 1);
    let mut log = ClientLog::default();
    let mut n = 0;
    while !shared.done() && log.errors.len() < 20 {
        n += 1;
        let roll = rng.u32(0..10);
        let outcome = if roll < 6 {
            export_flow(&shared, c, n, &mut log, &mut rng).await
        } else if roll < 8 {
            reimport_flow(&shared, &mut log, &mut rng).await
        } else {
            status_flow(&shared, c, &mut log, &mut rng).await
        };
        if let Err(e) = outcome {
            log.errors.push(format!("client {c}: {e}"));
        }
    }
    log
}

/// Imports each project's seed package into its `src` instance and reads back the ids.
async fn seed(base: &str, packages: &[PathBuf]) -> Result<(Vec<Client>, Vec<Source>), String> {
    let mut clients = Vec::new();
    let mut sources = Vec::new();
    for (p, package) in packages.iter().enumerate() {
        let client = generated_client(base, &token_of(&project_name(p)))?;
        let src = InstanceClient::new(client.clone(), id(&project_name(p))?, id("src")?);
        let job = src
            .import_file(package, &Default::default(), |_| {})
            .await
            .map_err(|e| format!("seeding: {e}"))?;
        crate::wait_job(
            &client,
            &project_name(p),
            "src",
            job.as_str(),
            Duration::from_millis(10),
            Duration::from_secs(60),
        )
        .await?;
        let apps = src
            .list_apps(None, None, Some(500))
            .await
            .map_err(|e| e.to_string())?
            .apps
            .into_iter()
            .map(|a| (a.id, a.name.to_string()))
            .collect();
        let tasks = src
            .list_tasks(&TaskQuery {
                limit: Some(500),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?
            .entities
            .into_iter()
            .map(|t| {
                (
                    t.task_id.to_string(),
                    t.task_name.to_string(),
                    t.source_app_id.to_string(),
                )
            })
            .collect();
        clients.push(client);
        sources.push(Source { apps, tasks });
    }
    Ok((clients, sources))
}

/// Every app (id, name) and task (id, name, app id) of an instance, page by page.
async fn everything(
    client: &Client,
    project: usize,
    instance: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String, String)>), String> {
    let ic = InstanceClient::new(client.clone(), id(&project_name(project))?, id(instance)?);
    let (mut apps, mut tasks) = (Vec::new(), Vec::new());
    for page in 0..1000u64 {
        let got = ic
            .list_apps(None, Some(page * 500), Some(500))
            .await
            .map_err(|e| e.to_string())?;
        let size = got.apps.len();
        apps.extend(got.apps.into_iter().map(|a| (a.id, a.name.to_string())));
        if size < 500 {
            break;
        }
    }
    for page in 0..1000u64 {
        let query = TaskQuery {
            offset: Some(page * 500),
            limit: Some(500),
            ..Default::default()
        };
        let got = ic.list_tasks(&query).await.map_err(|e| e.to_string())?;
        let size = got.entities.len();
        tasks.extend(got.entities.into_iter().map(|t| {
            (
                t.task_id.to_string(),
                t.task_name.to_string(),
                t.source_app_id.to_string(),
            )
        }));
        if size < 500 {
            break;
        }
    }
    Ok((apps, tasks))
}

#[derive(Debug, Default)]
struct InstanceCheck {
    duplicates: Vec<String>,
    half_imported: Vec<String>,
    dangling: Vec<String>,
    unaccounted: Vec<String>,
    imports_checked: usize,
}

/// Checks every target instance against the imports made into it.
async fn check_instances(
    clients: &[Client],
    imports: &[ImportRecord],
) -> Result<InstanceCheck, String> {
    let mut check = InstanceCheck::default();
    for (p, client) in clients.iter().enumerate() {
        for d in 0..DST_INSTANCES {
            let instance = format!("dst{d}");
            let (apps, tasks) = everything(client, p, &instance).await?;
            let app_by_name: HashMap<&str, &str> = apps
                .iter()
                .map(|(id, name)| (name.as_str(), id.as_str()))
                .collect();
            let app_ids: BTreeSet<&str> = apps.iter().map(|(id, _)| id.as_str()).collect();
            let mut names = BTreeSet::new();
            for (_, name) in &apps {
                if !names.insert(("app", name.as_str())) {
                    check.duplicates.push(format!("{instance}: app {name}"));
                }
            }
            for (_, name, app_id) in &tasks {
                if !names.insert(("task", name.as_str())) {
                    check.duplicates.push(format!("{instance}: task {name}"));
                }
                if !app_ids.contains(app_id.as_str()) {
                    check
                        .dangling
                        .push(format!("{instance}: task {name} of missing app {app_id}"));
                }
            }
            let originals: Vec<&ImportRecord> = imports
                .iter()
                .filter(|r| r.project == p && r.instance == instance && !r.reimport)
                .collect();
            let mut accounted = 0;
            for r in &originals {
                check.imports_checked += 1;
                let want_apps: BTreeSet<String> =
                    r.apps.iter().map(|a| format!("{}{a}", r.prefix)).collect();
                let want_tasks: BTreeSet<String> = r
                    .tasks
                    .iter()
                    .map(|(t, _)| format!("{}{t}", r.prefix))
                    .collect();
                let have_apps: BTreeSet<String> = apps
                    .iter()
                    .filter(|(_, n)| n.starts_with(&r.prefix))
                    .map(|(_, n)| n.clone())
                    .collect();
                let have_tasks: BTreeSet<String> = tasks
                    .iter()
                    .filter(|(_, n, _)| n.starts_with(&r.prefix))
                    .map(|(_, n, _)| n.clone())
                    .collect();
                accounted += have_apps.len() + have_tasks.len();
                let complete = have_apps == want_apps && have_tasks == want_tasks;
                let empty = have_apps.is_empty() && have_tasks.is_empty();
                if (r.succeeded && !complete) || (!r.succeeded && !empty) {
                    check.half_imported.push(format!(
                        "{instance} prefix {}: {} of {} apps, {} of {} tasks (job {} {})",
                        r.prefix,
                        have_apps.len(),
                        want_apps.len(),
                        have_tasks.len(),
                        want_tasks.len(),
                        r.job,
                        if r.succeeded {
                            "succeeded"
                        } else {
                            "did not succeed"
                        }
                    ));
                    continue;
                }
                // Each task sits under the app the package put it under.
                for (task, app) in &r.tasks {
                    let task_name = format!("{}{task}", r.prefix);
                    let app_id = app_by_name.get(format!("{}{app}", r.prefix).as_str());
                    let ok = tasks
                        .iter()
                        .any(|(_, n, a)| n == &task_name && Some(&a.as_str()) == app_id);
                    if r.succeeded && !ok {
                        check.half_imported.push(format!(
                            "{instance}: task {task_name} is not under app {}{app}",
                            r.prefix
                        ));
                    }
                }
            }
            let total = apps.len() + tasks.len();
            if accounted != total {
                check.unaccounted.push(format!(
                    "{instance}: {} assets, {accounted} accounted for by imports",
                    total
                ));
            }
        }
    }
    Ok(check)
}

/// Pairs of jobs of one project seen RUNNING over overlapping times. A job observed RUNNING by
/// a poll that answered at `r1` and by a later one sent at `s2` ran throughout `[r1, s2]`.
fn observed_overlaps(jobs: &[JobRecord]) -> Vec<String> {
    let mut by_project: BTreeMap<usize, Vec<(Instant, Instant, &str)>> = BTreeMap::new();
    for job in jobs {
        let (Some(first), Some(last)) = (job.running.first(), job.running.last()) else {
            continue;
        };
        let (from, to) = (first.1, last.0);
        if from <= to {
            by_project
                .entry(job.project)
                .or_default()
                .push((from, to, &job.id));
        }
    }
    let mut overlaps = Vec::new();
    for (p, mut spans) in by_project {
        spans.sort();
        for pair in spans.windows(2) {
            if pair[1].0 < pair[0].1 {
                overlaps.push(format!(
                    "{}: jobs {} and {} both seen RUNNING",
                    project_name(p),
                    pair[0].2,
                    pair[1].2
                ));
            }
        }
    }
    overlaps
}

/// Jobs of one project whose recorded [begin, end] intervals overlap, and jobs left RUNNING,
/// from the server's database (read after it stopped).
fn database_overlaps(db: &Path) -> Result<(Vec<String>, usize, usize), String> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", db.display()))?;
    let mut stmt = conn
        .prepare(
            "SELECT project_id, id, status, begin_time, end_time FROM jobs
             ORDER BY project_id, begin_time",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).map_err(|e| e.to_string());
    let mut overlaps = Vec::new();
    let mut running = 0;
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.0 != b.0 {
            continue;
        }
        let a_end = match &a.4 {
            Some(end) => parse(end)?,
            None => {
                running += 1;
                continue;
            }
        };
        let b_begin = parse(&b.3)?;
        if b_begin < a_end {
            overlaps.push(format!(
                "{}: job {} began {} µs before job {} ended",
                a.0,
                b.1,
                (a_end - b_begin).num_microseconds().unwrap_or(i64::MAX),
                a.1
            ));
        }
    }
    running += rows.last().is_some_and(|r| r.4.is_none()) as usize;
    Ok((overlaps, running, rows.len()))
}

fn verdict_cell(ok: bool) -> &'static str {
    if ok { "✅" } else { "❌" }
}

fn first(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(
            " — {}",
            items.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        )
    }
}

/// Runs the load test into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("load")?;
    let data = dir.join("data");
    let packages_dir = dir.join("packages");
    std::fs::create_dir_all(&packages_dir).map_err(|e| e.to_string())?;
    let per_phase = if ctx.quick { 40 } else { 1000 };
    let mut args = vec![
        "--data-dir".to_string(),
        data.display().to_string(),
        "--job-min-duration-ms".to_string(),
        JOB_MIN_DURATION_MS.to_string(),
    ];
    let mut seeds = Vec::new();
    for p in 0..PROJECTS {
        let name = project_name(p);
        args.extend(["--token".to_string(), format!("{name}={}", token_of(&name))]);
        let (apps, tasks) = fixtures::assets(&name, SRC_APPS, SRC_TASKS, 300);
        let path = dir.join(format!("seed-{p}.zip"));
        fixtures::write(&path, &apps, &tasks)?;
        seeds.push(path);
    }
    let server = Server::spawn_reference(
        &ctx.server_bin,
        &args,
        &dir.join("server.log"),
        Duration::from_secs(1800),
    )?;
    let base = server.base.clone();
    let (clients, sources) = block_on(seed(&base, &seeds))??;
    std::thread::sleep(Duration::from_secs(1));
    let baseline = server.memory()?;

    let deadline = Instant::now() + Duration::from_secs(if ctx.quick { 300 } else { 900 });
    let mut logs = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut after_phase = Vec::new();
    for phase in 0..PHASES {
        eprintln!(
            "load: burst {}/{PHASES}: {CLIENTS} clients, {PROJECTS} projects, until {per_phase} jobs are accepted",
            phase + 1
        );
        let shared = Arc::new(Shared {
            phase,
            clients: clients.clone(),
            sources: sources.clone(),
            accepted: AtomicUsize::new(0),
            target: per_phase,
            deadline,
            dir: packages_dir.clone(),
        });
        let started = Instant::now();
        logs.extend(block_on(async {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|c| tokio::spawn(client_loop(shared.clone(), c)))
                .collect();
            let mut logs = Vec::new();
            for h in handles {
                logs.push(h.await.map_err(|e| format!("a client panicked: {e}"))?);
            }
            Ok::<_, String>(logs)
        })??);
        elapsed += started.elapsed();
        // Idle threads of tokio's blocking pool exit after 10 s.
        std::thread::sleep(Duration::from_secs(SETTLE_SECS));
        after_phase.push(server.memory()?);
    }
    let after = *after_phase.last().ok_or("no burst ran")?;
    let peak = server.memory()?;

    let mut all = ClientLog::default();
    for log in logs {
        all.jobs.extend(log.jobs);
        all.imports.extend(log.imports);
        all.archives_ok += log.archives_ok;
        all.archives_bad.extend(log.archives_bad);
        all.second_downloads_refused += log.second_downloads_refused;
        all.second_downloads_bad.extend(log.second_downloads_bad);
        all.busy += log.busy;
        all.requests += log.requests;
        all.errors.extend(log.errors);
    }

    // Every job, asked once more now that the load is over.
    let final_statuses = block_on(async {
        let mut out = Vec::new();
        for job in &all.jobs {
            let answer = async {
                clients[job.project]
                    .check_asset_job_status(
                        &id(&project_name(job.project))?,
                        &id(&job.instance)?,
                        &id(&job.id)?,
                    )
                    .await
                    .map(|rv| rv.into_inner())
                    .map_err(|e| e.to_string())
            }
            .await;
            out.push(answer);
        }
        out
    })?;
    let mut not_ended = Vec::new();
    let mut unexpected = Vec::new();
    for (job, status) in all.jobs.iter().zip(&final_statuses) {
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                not_ended.push(format!("{}: {e}", job.id));
                continue;
            }
        };
        use types::CheckAssetJobStatusResponseStatus as S;
        match status.status {
            S::Running => not_ended.push(format!("{} still RUNNING", job.id)),
            S::Failed if status.reasons.is_empty() => {
                not_ended.push(format!("{} FAILED without reasons", job.id))
            }
            _ => {}
        }
        let as_expected = match &job.expect {
            Expect::Succeed => status.status == S::Succeeded,
            Expect::FailWith(code) => {
                status.status == S::Failed
                    && status
                        .reasons
                        .iter()
                        .any(|r| r.error_code.as_str() == *code)
            }
        };
        if !as_expected {
            unexpected.push(format!(
                "{:?} job {} expected {:?}, ended {:?} {:?}",
                job.kind,
                job.id,
                job.expect,
                status.status,
                status
                    .reasons
                    .iter()
                    .map(|r| r.error_code.as_str())
                    .collect::<Vec<_>>()
            ));
        }
    }
    let instances = block_on(check_instances(&clients, &all.imports))??;
    let observed = observed_overlaps(&all.jobs);
    server.stop(Duration::from_secs(30));
    let (db_overlaps, db_running, db_jobs) =
        database_overlaps(&data.join(roma_assets::service::store::DB_FILE_NAME))?;

    let count = |k: Kind| all.jobs.iter().filter(|j| j.kind == k).count();
    let observed_running = all.jobs.iter().filter(|j| !j.running.is_empty()).count();
    let jobs_ok = not_ended.is_empty() && !all.jobs.is_empty();
    let expected_ok = unexpected.is_empty();
    let instances_ok = instances.duplicates.is_empty()
        && instances.half_imported.is_empty()
        && instances.dangling.is_empty()
        && instances.unaccounted.is_empty();
    let archives_ok =
        all.archives_bad.is_empty() && all.second_downloads_bad.is_empty() && all.archives_ok > 0;
    let one_job_ok = observed.is_empty() && db_overlaps.is_empty() && db_running == 0;
    let errors_ok = all.errors.is_empty();
    let growth = mib(after.rss_kib) - mib(baseline.rss_kib);
    let last_burst = match after_phase.as_slice() {
        [.., before, last] => mib(last.rss_kib) - mib(before.rss_kib),
        _ => 0.0,
    };
    let memory_ok = growth <= NEAR_BASELINE_MIB && last_burst <= PLATEAU_MIB;
    let all_ok = jobs_ok && expected_ok && instances_ok && archives_ok && one_job_ok && errors_ok;
    eprintln!(
        "load: {} jobs in {:.1} s, checks {}",
        all.jobs.len(),
        elapsed.as_secs_f64(),
        if all_ok { "passed" } else { "FAILED" }
    );
    block.target(
        "Load test: every check below passes",
        "all pass",
        format!(
            "{} jobs, {} requests in {:.0} s",
            all.jobs.len(),
            all.requests,
            elapsed.as_secs_f64()
        ),
        Verdict::from(all_ok),
    );
    block.target(
        format!(
            "Load test: server memory {SETTLE_SECS} s after the load, and growth over the last burst"
        ),
        format!("≤ +{NEAR_BASELINE_MIB:.0} MiB over the baseline, ≤ +{PLATEAU_MIB:.0} MiB"),
        format!("{growth:+.1} MiB, {last_burst:+.1} MiB"),
        Verdict::from(memory_ok),
    );
    block.section(format!(
        "### Load and soak\n\n\
         {CLIENTS} concurrent clients (generated client, one tokio runtime with 2 workers) over \
         {PROJECTS} projects against `roma-assets serve --job-min-duration-ms {JOB_MIN_DURATION_MS}` \
         (release build): exports of random selections of a 60-asset source instance (1 in 10 \
         naming an unknown id), downloads checked with `read_package` (1 in 4 downloaded a second \
         time), imports into 3 target instances under fresh prefixes, AddNew and Merge re-imports \
         of earlier packages, status polls and listings, in {PHASES} bursts of {per_phase} accepted \
         jobs with a {SETTLE_SECS} s rest after each.\n\n\
         | Check | Result | |\n| --- | --- | --- |\n\
         | jobs accepted | {} ({} exports, {} imports, {} re-imports) in {:.1} s; {} requests ({:.0}/s); {} refused as busy (ROMA.10012) | |\n\
         | every accepted job ended SUCCEEDED or FAILED, a FAILED one with reasons | {} of {}{} | {} |\n\
         | each ended as expected (unknown id → FAILED ROMA.10041, AddNew re-import → FAILED ROMA.10040, else SUCCEEDED) | {} unexpected{} | {} |\n\
         | target instances: duplicate names / half-imported packages / tasks without their app / assets no import accounts for | {} / {} / {} / {} ({} imports checked){} | {} |\n\
         | archives read back with `read_package` and holding what was asked / second downloads refused with 404 ROMA.10021 | {} ok, {} bad / {} refused, {} not{} | {} |\n\
         | one running job per project: overlapping RUNNING observations ({} jobs observed RUNNING) / overlapping intervals among the {} jobs in the database / jobs left RUNNING | {} / {} / {}{} | {} |\n\
         | unexpected errors | {}{} | {} |\n\
         | server `VmRSS` (threads): baseline → {SETTLE_SECS} s after each burst; peak `VmHWM` | {:.1} MiB ({}) → {}; peak {:.1} MiB | {} |\n",
        all.jobs.len(),
        count(Kind::Export),
        count(Kind::Import),
        count(Kind::Reimport),
        elapsed.as_secs_f64(),
        all.requests,
        all.requests as f64 / elapsed.as_secs_f64(),
        all.busy,
        all.jobs.len() - not_ended.len(),
        all.jobs.len(),
        first(&not_ended),
        verdict_cell(jobs_ok),
        unexpected.len(),
        first(&unexpected),
        verdict_cell(expected_ok),
        instances.duplicates.len(),
        instances.half_imported.len(),
        instances.dangling.len(),
        instances.unaccounted.len(),
        instances.imports_checked,
        first(
            &[
                instances.duplicates.clone(),
                instances.half_imported.clone(),
                instances.dangling.clone(),
                instances.unaccounted.clone()
            ]
            .concat()
        ),
        verdict_cell(instances_ok),
        all.archives_ok,
        all.archives_bad.len(),
        all.second_downloads_refused,
        all.second_downloads_bad.len(),
        first(&[all.archives_bad.clone(), all.second_downloads_bad.clone()].concat()),
        verdict_cell(archives_ok),
        observed_running,
        db_jobs,
        observed.len(),
        db_overlaps.len(),
        db_running,
        first(&[observed, db_overlaps].concat()),
        verdict_cell(one_job_ok),
        all.errors.len(),
        first(&all.errors),
        verdict_cell(errors_ok),
        mib(baseline.rss_kib),
        baseline.threads,
        after_phase
            .iter()
            .map(|m| format!("{:.1} MiB ({})", mib(m.rss_kib), m.threads))
            .collect::<Vec<_>>()
            .join(" → "),
        mib(peak.hwm_kib),
        verdict_cell(memory_ok),
    ));
    if all_ok {
        Ok(())
    } else {
        Err("the load test's checks failed (see the table)".to_string())
    }
}
