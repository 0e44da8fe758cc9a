//! Part 3, job status under load: CheckAssetJobStatus of the real reference server (`roma-assets
//! serve`, release build, SQLite store) against a bare axum handler answering a constant JSON
//! body of the same bytes, and, to show where the time goes, the generated router over in-memory
//! logic ([`crate::stubs`]). Loaded by `wrk` like part 1.

use std::time::Duration;

use crate::overhead::{self, Variant};
use crate::procs::Server;
use crate::report::{Block, Verdict};
use crate::stats::{self, Spread};
use crate::{Ctx, block_on, generated_client, http_client, id, stubs, token_of, wait_job, wrk};

const PROJECT: &str = "demo";
const INSTANCE: &str = "demo";

/// Exports a demo app and returns the path of its (succeeded) job's status and the status body.
pub(crate) async fn a_finished_job(base: &str, token: &str) -> Result<(String, Vec<u8>), String> {
    let client = generated_client(base, token)?;
    let body = roma_assets::contract::types::AssetExportRequest {
        apps: vec![roma_assets::contract::types::AssetExportRequestApps {
            id: Some("demo-app-orders".to_string()),
        }],
        tasks: Vec::new(),
    };
    let job = client
        .export_asset(&id(PROJECT)?, &id(INSTANCE)?, &body)
        .await
        .map_err(|e| format!("export: {e}"))?
        .into_inner()
        .job_id
        .ok_or("no job id")?
        .to_string();
    let done = wait_job(
        &client,
        PROJECT,
        INSTANCE,
        &job,
        Duration::from_millis(10),
        Duration::from_secs(30),
    )
    .await?;
    if done.status != roma_assets::contract::types::CheckAssetJobStatusResponseStatus::Succeeded {
        return Err(format!("the export job ended {:?}", done.status));
    }
    let path = format!("/v2/{PROJECT}/instances/{INSTANCE}/assets/jobs/{job}");
    let bytes = http_client(token)?
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    Ok((path, bytes.to_vec()))
}

/// Copies a data directory's files (the database and its WAL, uploads, archives), not its lock.
fn copy_data_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap_or_default();
        if name == "lock" {
            continue;
        }
        if path.is_dir() {
            copy_data_dir(&path, &to.join(name))?;
        } else {
            std::fs::copy(&path, to.join(name))
                .map_err(|e| format!("copying {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Runs part 3 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("status")?;
    let token = token_of(PROJECT);
    let args = vec![
        "--data-dir".to_string(),
        dir.join("data").display().to_string(),
        "--token".to_string(),
        format!("{PROJECT}={token}"),
        "--demo".to_string(),
    ];
    let real = Server::spawn_reference(
        &ctx.server_bin,
        &args,
        &dir.join("server.log"),
        Duration::from_secs(1800),
    )?;
    let (path, body) = block_on(a_finished_job(&real.base, &token))??;
    // The same server and data at `RUST_LOG=warn`: no span per request, to show what it costs.
    // On a copy of the data directory: a data directory serves one server at a time (its lock),
    // and nothing writes to it once the job has finished, so the copy is consistent.
    let quiet_data = dir.join("data-quiet");
    copy_data_dir(&dir.join("data"), &quiet_data)?;
    let quiet_args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == dir.join("data").display().to_string() {
                quiet_data.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let quiet = Server::spawn_reference_with_env(
        &ctx.server_bin,
        &quiet_args,
        &[("RUST_LOG", "warn")],
        &dir.join("server-quiet.log"),
        Duration::from_secs(1800),
    )?;
    let body_file = dir.join("status.json");
    std::fs::write(&body_file, &body).map_err(|e| e.to_string())?;
    let mut args = vec![
        "serve-constant".to_string(),
        "--route".to_string(),
        path.clone(),
        "--body-file".to_string(),
        body_file.display().to_string(),
    ];
    args.extend(ctx.stub_lifetime_args());
    let constant = Server::spawn_stub(&ctx.self_exe, &args, &dir.join("constant.log"))?;
    let mut args = vec![
        "serve-stub".to_string(),
        "--router".to_string(),
        "generated".to_string(),
    ];
    args.extend(ctx.stub_lifetime_args());
    let stub = Server::spawn_stub(&ctx.self_exe, &args, &dir.join("stub.log"))?;

    let script = dir.join("status.lua");
    std::fs::write(
        &script,
        wrk::script("GET", &[("X-Auth-Token", &token)], None),
    )
    .map_err(|e| e.to_string())?;
    let stub_script = dir.join("stub.lua");
    std::fs::write(
        &stub_script,
        wrk::script("GET", &[("X-Auth-Token", stubs::TOKEN)], None),
    )
    .map_err(|e| e.to_string())?;
    let variants = vec![
        Variant {
            name: "reference server (SQLite store)".to_string(),
            url: format!("{}{path}", real.base),
            script: script.clone(),
        },
        Variant {
            name: "reference server, `RUST_LOG=warn`".to_string(),
            url: format!("{}{path}", quiet.base),
            script: script.clone(),
        },
        Variant {
            name: "bare axum, constant body".to_string(),
            url: format!("{}{path}", constant.base),
            script,
        },
        Variant {
            name: "generated router, in-memory logic".to_string(),
            url: format!("{}{}", stub.base, stubs::status_path()),
            script: stub_script,
        },
    ];
    eprintln!("part 3: CheckAssetJobStatus of the reference server");
    let load = overhead::load(ctx);
    let runs = overhead::compare(ctx, &variants, &load)?;
    let (tput, p99) = overhead::ratios(&runs[0], &runs[2]);
    let (tput_quiet, _) = overhead::ratios(&runs[1], &runs[2]);
    let (tput_stub, _) = overhead::ratios(&runs[3], &runs[2]);
    block.target(
        "3. Job status throughput, reference server vs constant JSON",
        "≥ 0.8×",
        stats::show(&tput, 3),
        Verdict::from(Spread::of(&tput).is_some_and(|s| s.median >= 0.8)),
    );
    block.section(format!(
        "### 3. Job status under load\n\n\
         CheckAssetJobStatus of a finished export job on `roma-assets serve` (release build, its \
         default `info` logging to a file) against a bare axum handler answering the same {} \
         bytes as a constant; for where the time goes, a second `roma-assets serve` on the same \
         data at `RUST_LOG=warn` (no span per request) and the generated router over in-memory \
         logic (part 1's stub). `wrk -t{} -c{} -d{}s`, {} rounds.\n\n{}\n\
         | Ratio, same round | throughput | p99 latency |\n| --- | --- | --- |\n\
         | reference server / constant | {} | {} |\n\
         | reference server at `RUST_LOG=warn` / constant | {} | |\n\
         | generated stub / constant | {} | |\n",
        body.len(),
        load.threads,
        load.connections,
        load.duration.as_secs(),
        ctx.rounds,
        overhead::table(&variants, &runs),
        stats::show(&tput, 3),
        stats::show(&p99, 3),
        stats::show(&tput_quiet, 3),
        stats::show(&tput_stub, 3),
    ));
    drop((constant, stub));
    quiet.stop(Duration::from_secs(15));
    real.stop(Duration::from_secs(15));
    Ok(())
}
