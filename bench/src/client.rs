//! Part 2, the generated client's overhead: the generated `Client` against raw reqwest with
//! hand-written serde types, issuing the same requests (CheckAssetJobStatus, and ExportAsset with
//! 100 ids) against the same stub server in its own process, sequentially and from concurrent
//! tasks. Both share one `reqwest::Client` (same pool, same default token header), so only what
//! the generated layer adds differs: URL building and path encoding, the hooks, status dispatch
//! and the typed response with its constrained newtypes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use roma_assets::client::{Client, types};
use serde::{Deserialize, Serialize};

use crate::procs::Server;
use crate::report::{Block, Verdict};
use crate::stats::{self, Spread};
use crate::{Ctx, block_on, id, stubs};

/// What a user without the generated client would write for the status answer.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only to be parsed, as a user's type would be
struct RawStatus {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(default)] // the server leaves out an empty list
    reasons: Vec<RawReason>,
    progress_percent: f64,
    archive_id: Option<String>,
    begin_time: DateTime<Utc>,
    end_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct RawReason {
    resource_type: String,
    resource_name: String,
    error_code: String,
    error_msg: String,
}

#[derive(Debug, Serialize)]
struct RawExport {
    apps: Vec<RawId>,
    tasks: Vec<RawId>,
}

#[derive(Debug, Serialize)]
struct RawId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct RawJob {
    job_id: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Status,
    Export,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Generated,
    Raw,
}

struct Calls {
    generated: Client,
    raw: reqwest::Client,
    base: String,
    export: types::AssetExportRequest,
    raw_export: RawExport,
    project: types::ProjectId,
    instance: types::InstanceId,
    job: types::JobId,
}

impl Calls {
    async fn one(&self, op: Op, flavor: Flavor) -> Result<(), String> {
        match (op, flavor) {
            (Op::Status, Flavor::Generated) => {
                let s = self
                    .generated
                    .check_asset_job_status(&self.project, &self.instance, &self.job)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                std::hint::black_box(s);
            }
            (Op::Status, Flavor::Raw) => {
                let url = format!(
                    "{}/v2/{}/instances/{}/assets/jobs/{}",
                    self.base,
                    stubs::PROJECT,
                    stubs::INSTANCE,
                    stubs::JOB_ID
                );
                let s: RawStatus = self
                    .raw
                    .get(url)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(s);
            }
            (Op::Export, Flavor::Generated) => {
                let r = self
                    .generated
                    .export_asset(&self.project, &self.instance, &self.export)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                std::hint::black_box(r);
            }
            (Op::Export, Flavor::Raw) => {
                let url = format!(
                    "{}/v2/{}/instances/{}/assets/export",
                    self.base,
                    stubs::PROJECT,
                    stubs::INSTANCE
                );
                let r: RawJob = self
                    .raw
                    .post(url)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .json(&self.raw_export)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(r.job_id);
            }
        }
        Ok(())
    }
}

/// `requests` calls from `tasks` concurrent tasks; requests per second.
async fn measure(
    calls: &Arc<Calls>,
    op: Op,
    flavor: Flavor,
    requests: usize,
    tasks: usize,
) -> Result<f64, String> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let calls = calls.clone();
        let n = requests / tasks + usize::from(t < requests % tasks);
        handles.push(tokio::spawn(async move {
            for _ in 0..n {
                calls.one(op, flavor).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

struct Row {
    op: &'static str,
    mode: String,
    generated: Vec<f64>,
    raw: Vec<f64>,
    /// Client CPU µs per request: generated, raw.
    cpu_us: [f64; 2],
}

/// This process's user + system CPU time so far, in seconds (`/proc/self/stat`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs part 2 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("client")?;
    let mut args = vec![
        "serve-stub".to_string(),
        "--router".to_string(),
        "bare".to_string(),
    ];
    args.extend(ctx.stub_lifetime_args());
    let server = Server::spawn_stub(&ctx.self_exe, &args, &dir.join("server.log"))?;
    // Many short rounds, alternating: client and server share two cores with whatever else
    // runs, so throughput swings from one second to the next.
    let requests = if ctx.quick { 300 } else { 1500 };
    let concurrency = 16;
    let base = server.base.clone();
    let rounds = ctx.rounds * 4;
    let rows = block_on(async move {
        let http = crate::http_client(stubs::TOKEN)?;
        let export = stubs::export_request();
        let raw_export = RawExport {
            apps: export
                .apps
                .iter()
                .filter_map(|a| a.id.clone())
                .map(|id| RawId { id })
                .collect(),
            tasks: export
                .tasks
                .iter()
                .filter_map(|t| t.id.clone())
                .map(|id| RawId { id })
                .collect(),
        };
        let calls = Arc::new(Calls {
            generated: Client::new_with_client(&base, http.clone(), Default::default()),
            raw: http,
            base: base.clone(),
            export,
            raw_export,
            project: id(stubs::PROJECT)?,
            instance: id(stubs::INSTANCE)?,
            job: id(stubs::JOB_ID)?,
        });
        let mut rows = Vec::new();
        for (op, op_name) in [
            (Op::Status, "CheckAssetJobStatus"),
            (Op::Export, "ExportAsset (100 ids)"),
        ] {
            for (tasks, mode) in [
                (1, "sequential".to_string()),
                (concurrency, format!("{concurrency} concurrent tasks")),
            ] {
                // Warm-up: connections open, code paths hot.
                measure(&calls, op, Flavor::Generated, 200, tasks).await?;
                measure(&calls, op, Flavor::Raw, 200, tasks).await?;
                let (mut generated, mut raw) = (Vec::new(), Vec::new());
                let mut cpu = [0.0f64; 2];
                for round in 0..rounds {
                    let order = if round % 2 == 0 {
                        [Flavor::Generated, Flavor::Raw]
                    } else {
                        [Flavor::Raw, Flavor::Generated]
                    };
                    for flavor in order {
                        let before = cpu_seconds();
                        let rps = measure(&calls, op, flavor, requests, tasks).await?;
                        let used = cpu_seconds() - before;
                        match flavor {
                            Flavor::Generated => {
                                generated.push(rps);
                                cpu[0] += used;
                            }
                            Flavor::Raw => {
                                raw.push(rps);
                                cpu[1] += used;
                            }
                        }
                    }
                }
                eprintln!(
                    "part 2: {op_name}, {mode}: generated {} req/s, raw {} req/s",
                    stats::show(&generated, 0),
                    stats::show(&raw, 0)
                );
                let per_request = (requests * rounds) as f64 / 1e6;
                rows.push(Row {
                    op: op_name,
                    mode,
                    generated,
                    raw,
                    cpu_us: [cpu[0] / per_request, cpu[1] / per_request],
                });
            }
        }
        Ok::<_, String>(rows)
    })??;
    let mut text = format!(
        "### 2. Generated client overhead\n\n\
         The generated client against raw reqwest with hand-written serde types, same requests, \
         one shared `reqwest::Client`, against the bare stub server in its own process; {requests} \
         requests per run, {rounds} rounds alternating which goes first. The client's CPU time \
         (this process's user + system time over all rounds, per request) is the steadier \
         figure: it does not move with the server's or other people's load.\n\n\
         | Operation | Mode | generated (req/s) | raw reqwest (req/s) | generated / raw, same round | client CPU µs/request, generated / raw |\n\
         | --- | --- | --- | --- | --- | --- |\n"
    );
    for Row {
        op,
        mode,
        generated,
        raw,
        cpu_us,
    } in &rows
    {
        let ratio = stats::ratios(generated, raw);
        text.push_str(&format!(
            "| {op} | {mode} | {} | {} | {} | {:.1} / {:.1} ({:.3}×) |\n",
            stats::show(generated, 0),
            stats::show(raw, 0),
            stats::show(&ratio, 3),
            cpu_us[0],
            cpu_us[1],
            cpu_us[0] / cpu_us[1]
        ));
        block.target(
            format!("2. Generated client throughput, {op}, {mode}"),
            "≥ 0.95× raw reqwest",
            stats::show(&ratio, 3),
            Verdict::from(Spread::of(&ratio).is_some_and(|s| s.median >= 0.95)),
        );
    }
    block.section(text);
    server.stop(Duration::from_secs(5));
    Ok(())
}
