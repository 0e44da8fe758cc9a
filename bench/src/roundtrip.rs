//! Part 5, roundtrip latency: export → wait → download → import → wait of 100 assets (50 apps,
//! 50 tasks) on loopback against `roma-assets serve` (release build), through the client
//! library a user would use ([`InstanceClient`]), polling every 1–5 ms. Each round imports into a
//! new instance, so every import is a real AddNew of 100 assets.

use std::time::{Duration, Instant};

use roma_assets::client::{ImportOptions, InstanceClient, TaskQuery, WaitOptions, types};

use crate::procs::Server;
use crate::report::{Block, Verdict};
use crate::stats::{self, Spread};
use crate::{Ctx, block_on, fixtures, generated_client, id, token_of};

const PROJECT: &str = "rt";

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(60),
        first_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(5),
    }
}

fn succeeded(status: &types::CheckAssetJobStatusResponse, what: &str) -> Result<(), String> {
    if status.status == types::CheckAssetJobStatusResponseStatus::Succeeded {
        Ok(())
    } else {
        Err(format!(
            "{what} ended {:?}: {:?}",
            status.status, status.reasons
        ))
    }
}

/// Milliseconds of each phase of one roundtrip.
pub(crate) struct Phases {
    pub(crate) export: f64,
    pub(crate) download: f64,
    pub(crate) import: f64,
    pub(crate) total: f64,
}

/// `runs` roundtrips (after two warm-ups) against `bases`: one server, or replicas of one API, in
/// which case each phase goes to the next replica (export on one, download from the next, import
/// on the one after).
pub(crate) async fn roundtrips(
    bases: &[String],
    dir: &std::path::Path,
    seed: &std::path::Path,
    runs: usize,
) -> Result<Vec<Phases>, String> {
    let clients = bases
        .iter()
        .map(|base| generated_client(base, &token_of(PROJECT)))
        .collect::<Result<Vec<_>, _>>()?;
    let instance = |replica: usize, name: &str| -> Result<InstanceClient, String> {
        let client = clients[replica % clients.len()].clone();
        Ok(InstanceClient::new(client, id(PROJECT)?, id(name)?))
    };
    let src = instance(0, "src")?;
    let job = src
        .import_file(seed, &ImportOptions::default(), |_| {})
        .await
        .map_err(|e| e.to_string())?;
    succeeded(
        &src.wait_for_job(&job, &fast_wait(), |_| {})
            .await
            .map_err(|e| e.to_string())?,
        "seeding",
    )?;
    let apps: Vec<String> = src
        .list_apps(None, None, Some(500))
        .await
        .map_err(|e| e.to_string())?
        .apps
        .into_iter()
        .map(|a| a.id)
        .collect();
    let tasks: Vec<String> = src
        .list_tasks(&TaskQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?
        .entities
        .into_iter()
        .map(|t| t.task_id.to_string())
        .collect();
    if apps.len() + tasks.len() != 100 {
        return Err(format!(
            "{} apps and {} tasks seeded",
            apps.len(),
            tasks.len()
        ));
    }
    let warm_up = 2;
    let mut phases = Vec::new();
    for run in 0..warm_up + runs {
        let (exporter, downloader, importer) =
            (instance(run, "src")?, instance(run + 1, "src")?, run + 2);
        let t0 = Instant::now();
        let job = exporter
            .export(apps.clone(), tasks.clone())
            .await
            .map_err(|e| e.to_string())?;
        let done = exporter
            .wait_for_job(&job, &fast_wait(), |_| {})
            .await
            .map_err(|e| e.to_string())?;
        succeeded(&done, "the export")?;
        let archive: types::ArchiveId = id(done.archive_id.as_deref().ok_or("no archive id")?)?;
        let t1 = Instant::now();
        let path = dir.join(format!("roundtrip-{run}.zip"));
        downloader
            .download_to(&archive, &path, true, |_| {})
            .await
            .map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        let dst = instance(importer, &format!("dst-{run}"))?;
        let job = dst
            .import_file(&path, &ImportOptions::default(), |_| {})
            .await
            .map_err(|e| e.to_string())?;
        let done = dst
            .wait_for_job(&job, &fast_wait(), |_| {})
            .await
            .map_err(|e| e.to_string())?;
        succeeded(&done, "the import")?;
        let t3 = Instant::now();
        let _ = std::fs::remove_file(&path);
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        if run >= warm_up {
            phases.push(Phases {
                export: ms(t0, t1),
                download: ms(t1, t2),
                import: ms(t2, t3),
                total: ms(t0, t3),
            });
        }
    }
    Ok(phases)
}

/// Writes the package [`roundtrips`] seeds its source instance with (50 apps and 50 tasks, the
/// 100 assets it checks) into `dir`; returns its path.
pub(crate) fn seed_package(dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
    let seed = dir.join("seed.zip");
    let (apps, tasks) = fixtures::assets("rt", 50, 50, 200);
    fixtures::write(&seed, &apps, &tasks)?;
    Ok(seed)
}

/// Runs part 5 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("roundtrip")?;
    let seed = seed_package(&dir)?;
    let args = vec![
        "--data-dir".to_string(),
        dir.join("data").display().to_string(),
        "--token".to_string(),
        format!("{PROJECT}={}", token_of(PROJECT)),
    ];
    let server = Server::spawn_reference(
        &ctx.server_bin,
        &args,
        &dir.join("server.log"),
        Duration::from_secs(1800),
    )?;
    let runs = if ctx.quick { 5 } else { 30 };
    let phases = block_on(roundtrips(
        std::slice::from_ref(&server.base),
        &dir,
        &seed,
        runs,
    ))??;
    server.stop(Duration::from_secs(15));
    let col = |f: fn(&Phases) -> f64| phases.iter().map(f).collect::<Vec<f64>>();
    let total = col(|p| p.total);
    eprintln!("part 5: roundtrip {} ms", stats::show(&total, 1));
    block.target(
        "5. Roundtrip of 100 assets (export → wait → download → import → wait)",
        "median < 100 ms",
        format!("{} ms", stats::show(&total, 1)),
        Verdict::from(Spread::of(&total).is_some_and(|s| s.median < 100.0)),
    );
    block.section(format!(
        "### 5. Roundtrip latency\n\n\
         Export → wait → download → import → wait of 100 assets (50 apps, 50 tasks, ~0.5 KB of \
         settings each) on `roma-assets serve` (release build) through `InstanceClient`, polling \
         every 1–5 ms; each import goes to a new instance. {runs} runs after 2 warm-ups.\n\n\
         | Phase | ms: median (min–max) |\n| --- | --- |\n\
         | export + wait | {} |\n| download | {} |\n| import (upload) + wait | {} |\n\
         | **total** | **{}** |\n",
        stats::show(&col(|p| p.export), 1),
        stats::show(&col(|p| p.download), 1),
        stats::show(&col(|p| p.import), 1),
        stats::show(&total, 1),
    ));
    Ok(())
}
