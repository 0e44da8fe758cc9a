//! Part 4, import streaming memory: the peak resident size (`VmHWM`) of a separately started
//! `roma-assets serve` (release build) while it imports a package near its upload limit (about
//! 60 MiB: 1 app and 99 tasks with large, barely compressible settings, under a 64 MiB limit),
//! against its resident size when idle just before. A fresh server per repetition, since the
//! peak only grows.

use std::time::{Duration, Instant};

use roma_assets::client::{ImportOptions, InstanceClient, TaskQuery, types};

use crate::procs::{Memory, Server, mib};
use crate::report::{Block, Verdict};
use crate::stats;
use crate::{Ctx, block_on, fixtures, generated_client, id, stubs, token_of, wait_job};

const PROJECT: &str = "mem";
const INSTANCE: &str = "target";
const UPLOAD_LIMIT: u64 = 64 * 1024 * 1024;

pub(crate) struct Sample {
    pub(crate) idle: Memory,
    pub(crate) after: Memory,
    upload: Duration,
    job: Duration,
}

/// The server options a memory sample needs (its project's token and AK/SK, the upload limit).
pub(crate) fn server_args() -> Vec<String> {
    vec![
        "--token".to_string(),
        format!("{PROJECT}={}", token_of(PROJECT)),
        "--credential".to_string(),
        format!("{PROJECT}={}:{}", stubs::ACCESS_KEY, stubs::SECRET_KEY),
        "--max-upload-bytes".to_string(),
        UPLOAD_LIMIT.to_string(),
    ]
}

/// Writes the large package into `dir`: its path, size in bytes and number of tasks.
pub(crate) fn large_package(
    ctx: &Ctx,
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, u64, u64), String> {
    let package = dir.join("bench-large.zip");
    // 99 tasks × 2 settings × 420,000 characters: ~83 MB of JSON, ~60 MiB zipped.
    let chars = if ctx.quick { 42_000 } else { 420_000 };
    let tasks = 99;
    let (apps, task_list) = fixtures::assets("mem", 1, tasks, chars);
    let size = fixtures::write(&package, &apps, &task_list)?;
    if size > UPLOAD_LIMIT {
        return Err(format!("the package is {size} bytes, over the limit"));
    }
    Ok((package, size, tasks as u64))
}

pub(crate) async fn import_once(
    server: &Server,
    package: &std::path::Path,
    tasks: u64,
) -> Result<Sample, String> {
    let token = token_of(PROJECT);
    let client = generated_client(&server.base, &token)?;
    let target = InstanceClient::new(client.clone(), id(PROJECT)?, id(INSTANCE)?);
    // Warm-up: every code path an import touches except the package itself (routes, the store,
    // a job's blocking thread), so that the idle figure is a running server's.
    target
        .list_apps(None, None, None)
        .await
        .map_err(|e| e.to_string())?;
    let warm = target
        .export(["no-such-app"], Vec::<String>::new())
        .await
        .map_err(|e| e.to_string())?;
    wait_job(
        &client,
        PROJECT,
        INSTANCE,
        warm.as_str(),
        Duration::from_millis(10),
        Duration::from_secs(30),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.memory()?;

    // The upload is signed with AK/SK, as the official SDKs send it: a multipart body signed
    // UNSIGNED-PAYLOAD, verified from the headers alone, so the server still streams it.
    let key = roma_assets::client::SigningKey::new(stubs::ACCESS_KEY, stubs::SECRET_KEY)
        .map_err(|e| e.to_string())?;
    let signed = roma_assets::client::ClientBuilder::signed(&server.base, key)
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let signed = InstanceClient::new(signed, id(PROJECT)?, id(INSTANCE)?);
    let started = Instant::now();
    let job = signed
        .import_file(package, &ImportOptions::default(), |_| {})
        .await
        .map_err(|e| format!("importing: {e}"))?;
    let upload = started.elapsed();
    let done = wait_job(
        &client,
        PROJECT,
        INSTANCE,
        job.as_str(),
        Duration::from_millis(20),
        Duration::from_secs(600),
    )
    .await?;
    let job_time = started.elapsed() - upload;
    let after = server.memory()?;
    if done.status != types::CheckAssetJobStatusResponseStatus::Succeeded {
        return Err(format!(
            "the import ended {:?}: {:?}",
            done.status, done.reasons
        ));
    }
    let listed = target
        .list_tasks(&TaskQuery {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if listed.total != tasks as i64 {
        return Err(format!("{} tasks imported, {tasks} expected", listed.total));
    }
    Ok(Sample {
        idle,
        after,
        upload,
        job: job_time,
    })
}

/// Runs part 4 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("memory")?;
    let (package, size, tasks) = large_package(ctx, &dir)?;
    let reps = if ctx.quick { 1 } else { 3 };
    let mut samples = Vec::new();
    for rep in 0..reps {
        let mut args = vec![
            "--data-dir".to_string(),
            dir.join(format!("data-{rep}")).display().to_string(),
        ];
        args.extend(server_args());
        let server = Server::spawn_reference(
            &ctx.server_bin,
            &args,
            &dir.join(format!("server-{rep}.log")),
            Duration::from_secs(1800),
        )?;
        let sample = block_on(import_once(&server, &package, tasks))??;
        eprintln!(
            "part 4: rep {}: idle RSS {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB",
            rep + 1,
            mib(sample.idle.rss_kib),
            mib(sample.after.hwm_kib),
            mib(sample.after.hwm_kib.saturating_sub(sample.idle.rss_kib))
        );
        samples.push(sample);
        server.stop(Duration::from_secs(15));
    }
    let col = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let idle = col(&|s| mib(s.idle.rss_kib));
    let idle_peak = col(&|s| mib(s.idle.hwm_kib));
    let peak = col(&|s| mib(s.after.hwm_kib));
    let growth = col(&|s| mib(s.after.hwm_kib.saturating_sub(s.idle.rss_kib)));
    let after = col(&|s| mib(s.after.rss_kib));
    let upload = col(&|s| s.upload.as_secs_f64());
    let job = col(&|s| s.job.as_secs_f64());
    let worst = growth.iter().copied().fold(0.0, f64::max);
    block.target(
        "4. Server memory growth importing a ~60 MiB package",
        "< 16 MiB (every repetition)",
        format!("{} MiB", stats::show(&growth, 1)),
        Verdict::from(!growth.is_empty() && worst < 16.0),
    );
    block.section(format!(
        "### 4. Import streaming memory\n\n\
         A package of {:.1} MiB (1 app, {tasks} tasks with large random settings) imported into a \
         fresh `roma-assets serve --max-upload-bytes {UPLOAD_LIMIT}` (release build) through the \
         generated client's streaming upload, signed with AK/SK (`UNSIGNED-PAYLOAD`, as the \
         official SDKs sign a multipart body); `VmRSS`/`VmHWM` from `/proc/PID/status`. Growth is \
         the peak during the import minus the resident size just before it. {reps} repetitions, \
         one server each.\n\n\
         | | MiB or seconds: median (min–max) |\n| --- | --- |\n\
         | idle `VmRSS` before the import | {} |\n\
         | `VmHWM` before the import (start-up peak) | {} |\n\
         | `VmHWM` after the import | {} |\n\
         | **growth** | **{}** |\n\
         | `VmRSS` after the import | {} |\n\
         | upload (s) | {} |\n\
         | job, after the upload (s) | {} |\n",
        size as f64 / 1024.0 / 1024.0,
        stats::show(&idle, 1),
        stats::show(&idle_peak, 1),
        stats::show(&peak, 1),
        stats::show(&growth, 1),
        stats::show(&after, 1),
        stats::show(&upload, 2),
        stats::show(&job, 2),
    ));
    let _ = std::fs::remove_file(&package);
    Ok(())
}
