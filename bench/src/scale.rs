//! Part 7, scale-out: the reference server on SQLite and a directory against PostgreSQL and S3
//! (moto), one server against three replicas, in one run. Measures the part 5 roundtrip (with
//! three replicas each phase goes to the next one) and CheckAssetJobStatus under wrk (with three
//! replicas, one wrk per replica at once, their throughputs summed).
//!
//! PostgreSQL and moto are the tests' throwaway services (`tests/services/postgres.sh`,
//! `tests/services/s3.sh`), started here and stopped at the end. On one 2-core machine the
//! replicas, the database, moto and the load share the cores: the figures show what coordination
//! costs, not what more machines would add.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::memory;
use crate::procs::{Server, mib};
use crate::report::Block;
use crate::roundtrip::{Phases, roundtrips, seed_package};
use crate::status_load::a_finished_job;
use crate::{Ctx, block_on, stats, token_of, wrk};

/// A test service started by its script, stopped when dropped.
struct Service {
    script: std::path::PathBuf,
    address: String,
}

impl Service {
    fn start(root: &Path, name: &str) -> Result<Service, String> {
        let script = root.join("tests/services").join(name);
        let out = Command::new(&script)
            .arg("start")
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} start: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let address = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Service { script, address })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new(&self.script).arg("stop").status();
    }
}

/// A new database `name` on the cluster at `url` (through `psql`); returns its URL.
fn database(url: &str, name: &str) -> Result<String, String> {
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        let done = Command::new("psql")
            .args([url, "-qc", &sql])
            .status()
            .map_err(|e| format!("psql: {e}"))?;
        if !done.success() {
            return Err(format!("psql: {sql} failed"));
        }
    }
    let (base, _) = url
        .rsplit_once('/')
        .ok_or("a database URL ends with its name")?;
    Ok(format!("{base}/{name}"))
}

/// One configuration's servers.
struct Setup {
    name: &'static str,
    servers: Vec<Server>,
}

impl Setup {
    fn bases(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.base.clone()).collect()
    }
}

/// Where a server keeps state and blobs: SQLite and its directory, or PostgreSQL with its
/// directory, or PostgreSQL with S3.
#[derive(Clone, Copy)]
enum Backends {
    Embedded,
    Postgres,
    PostgresS3,
}

/// The server options of the roundtrip and status measurements.
fn roundtrip_args() -> Vec<String> {
    vec![
        "--demo".to_string(),
        "--token".to_string(),
        format!("demo={}", token_of("demo")),
        "--token".to_string(),
        format!("rt={}", token_of("rt")),
    ]
}

fn spawn(
    ctx: &Ctx,
    dir: &Path,
    label: &str,
    backends: Backends,
    (database_url, endpoint): (&str, &str),
    options: Vec<String>,
) -> Result<Server, String> {
    let mut args = vec![
        "--data-dir".to_string(),
        dir.join(label).display().to_string(),
    ];
    args.extend(options);
    let mut env = vec![("RUST_LOG", "warn")];
    if matches!(backends, Backends::Postgres | Backends::PostgresS3) {
        env.push(("DATABASE_URL", database_url));
    }
    if let Backends::PostgresS3 = backends {
        args.extend([
            "--blob-store".to_string(),
            "s3://roma-test/bench".to_string(),
        ]);
        env.extend([
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ]);
    }
    Server::spawn_reference_with_env(
        &ctx.server_bin,
        &args,
        &env,
        &dir.join(format!("{label}.log")),
        Duration::from_secs(1800),
    )
}

/// CheckAssetJobStatus throughput of `setup`: one wrk per server at once, summed; `rounds` times.
fn status_rps(ctx: &Ctx, dir: &Path, setup: &Setup) -> Result<Vec<f64>, String> {
    let wrk_bin = ctx.wrk.as_ref().ok_or("wrk is not installed")?;
    let token = token_of("demo");
    let (path, _) = block_on(a_finished_job(&setup.servers[0].base, &token))??;
    let script = dir.join("status.lua");
    std::fs::write(
        &script,
        wrk::script("GET", &[("X-Auth-Token", &token)], None),
    )
    .map_err(|e| e.to_string())?;
    // The machine's load split among the servers: as many connections in all as part 3 uses.
    let per_server = wrk::Load {
        threads: 1,
        connections: (32 / setup.servers.len() as u32).max(4),
        duration: ctx.wrk_duration,
    };
    let mut rps = Vec::new();
    for _ in 0..ctx.rounds {
        let runs: Vec<_> = setup
            .servers
            .iter()
            .map(|server| {
                let (wrk_bin, script) = (wrk_bin.clone(), script.clone());
                let url = format!("{}{path}", server.base);
                std::thread::spawn(move || wrk::run(&wrk_bin, &script, &url, &per_server))
            })
            .collect();
        let mut total = 0.0;
        for run in runs {
            let run = run.join().map_err(|_| "a wrk thread panicked")??;
            if !run.clean() {
                return Err(format!("{}: errors under load: {run:?}", setup.name));
            }
            total += run.rps();
        }
        rps.push(total);
    }
    Ok(rps)
}

/// Runs part 7 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("scale")?;
    let seed = seed_package(&dir)?;
    let postgres = Service::start(&ctx.root, "postgres.sh")?;
    let s3 = Service::start(&ctx.root, "s3.sh")?;
    let runs = if ctx.quick { 5 } else { 30 };

    let mut rows = Vec::new();
    for (name, replicas, backends) in [
        ("SQLite + directory, 1 server", 1, Backends::Embedded),
        ("PostgreSQL + directory, 1 server", 1, Backends::Postgres),
        ("PostgreSQL + S3 (moto), 1 server", 1, Backends::PostgresS3),
        (
            "PostgreSQL + S3 (moto), 3 replicas",
            3,
            Backends::PostgresS3,
        ),
    ] {
        eprintln!("part 7: {name}");
        let db_name = format!("bench_{}", rows.len());
        let database_url = database(&postgres.address, &db_name)?;
        let servers = (0..replicas)
            .map(|n| {
                let label = format!("{db_name}-{n}");
                let services = (database_url.as_str(), s3.address.as_str());
                spawn(ctx, &dir, &label, backends, services, roundtrip_args())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let setup = Setup { name, servers };
        let phases: Vec<Phases> = block_on(roundtrips(&setup.bases(), &dir, &seed, runs))??;
        let total: Vec<f64> = phases.iter().map(|p| p.total).collect();
        let export: Vec<f64> = phases.iter().map(|p| p.export).collect();
        let import: Vec<f64> = phases.iter().map(|p| p.import).collect();
        let rps = status_rps(ctx, &dir, &setup)?;
        eprintln!(
            "part 7: {name}: roundtrip {} ms, status {} req/s",
            stats::show(&total, 1),
            stats::show(&rps, 0)
        );
        rows.push(format!(
            "| {name} | {} | {} | {} | {} |",
            stats::show(&total, 1),
            stats::show(&export, 1),
            stats::show(&import, 1),
            stats::show(&rps, 0)
        ));
        for server in setup.servers {
            server.stop(Duration::from_secs(15));
        }
    }
    // The memory of a large import, embedded against PostgreSQL and S3 (a fresh server each).
    let (package, size, tasks) = memory::large_package(ctx, &dir)?;
    let mut memory_rows = Vec::new();
    for (name, backends) in [
        ("SQLite + directory", Backends::Embedded),
        ("PostgreSQL + S3 (moto)", Backends::PostgresS3),
    ] {
        let database_url = database(&postgres.address, "bench_memory")?;
        let services = (database_url.as_str(), s3.address.as_str());
        let label = format!("memory-{}", memory_rows.len());
        let server = spawn(ctx, &dir, &label, backends, services, memory::server_args())?;
        let sample = block_on(memory::import_once(&server, &package, tasks))??;
        let growth = mib(sample.after.hwm_kib.saturating_sub(sample.idle.rss_kib));
        eprintln!("part 7: {name}: a {size}-byte import grew the server by {growth:.1} MiB");
        memory_rows.push(format!(
            "| {name} | {:.1} | {:.1} | **{growth:.1}** |",
            mib(sample.idle.rss_kib),
            mib(sample.after.hwm_kib),
        ));
        server.stop(Duration::from_secs(15));
    }
    let _ = std::fs::remove_file(&package);
    drop((s3, postgres));
    block.section(format!(
        "### 7. Scale-out: PostgreSQL and S3, one server and three replicas\n\n\
         The reference server (release build, `RUST_LOG=warn`) on SQLite and its data directory, \
         then on PostgreSQL 15 with its data directory, then on PostgreSQL and moto's S3 (both \
         on this machine, as the tests run them), with one server and with three replicas \
         behind no balancer: the roundtrip of part 5 ({runs} \
         runs after 2 warm-ups; with three replicas the export runs on one, the download comes \
         from the next and the import goes to the third), and CheckAssetJobStatus of a finished \
         job under `wrk` ({} rounds of {} s; with three replicas one `wrk` per replica at once, \
         the connections split among them, throughputs summed). One 2-core machine runs the \
         servers, the database, moto and the load: three replicas share the same two cores, so \
         this shows what sharing state costs, not what more machines would add.\n\n\
         | Setup | roundtrip ms | export + wait ms | import + wait ms | status req/s |\n\
         | --- | --- | --- | --- | --- |\n{}\n\n\
         Memory of one large import (part 4's package, {:.1} MiB, signed upload), one fresh \
         server each, `VmRSS`/`VmHWM` in MiB:\n\n\
         | Setup | idle | peak | growth |\n| --- | --- | --- | --- |\n{}\n",
        ctx.rounds,
        ctx.wrk_duration.as_secs(),
        rows.join("\n"),
        size as f64 / 1024.0 / 1024.0,
        memory_rows.join("\n"),
    ));
    Ok(())
}
