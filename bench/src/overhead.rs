//! Part 1, the generated server's overhead: the generated router and its validation against a
//! hand-written axum router serving the same in-memory logic ([`crate::stubs`]), on
//! CheckAssetJobStatus and on ExportAsset with 100 ids, loaded by `wrk` from its own process with
//! a fixed connection count and duration. Rounds alternate the order of the servers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tower::ServiceExt;

use crate::Ctx;
use crate::procs::Server;
use crate::report::{Block, Verdict};
use crate::stats::{self, Spread};
use crate::stubs;
use crate::wrk::{self, Load, WrkRun};

/// One server under wrk.
pub struct Variant {
    /// As shown in the tables.
    pub name: String,
    /// The full URL wrk requests.
    pub url: String,
    /// The Lua script.
    pub script: PathBuf,
}

/// Runs every variant once per round (a short warm-up first), rotating the order each round.
/// Returns `runs[variant][round]`. Fails if any request of any run failed.
pub fn compare(ctx: &Ctx, variants: &[Variant], load: &Load) -> Result<Vec<Vec<WrkRun>>, String> {
    let wrk = ctx.wrk.as_ref().ok_or("wrk is not installed")?;
    let warm = Load {
        duration: std::time::Duration::from_secs(1),
        ..*load
    };
    for v in variants {
        wrk::run(wrk, &v.script, &v.url, &warm)?;
    }
    let mut runs = vec![Vec::new(); variants.len()];
    for round in 0..ctx.rounds {
        for k in 0..variants.len() {
            let index = (k + round) % variants.len();
            let v = &variants[index];
            let run = wrk::run(wrk, &v.script, &v.url, load)?;
            if !run.clean() {
                return Err(format!(
                    "{}: {} of {} requests failed ({} socket errors)",
                    v.name, run.status_errors, run.requests, run.socket_errors
                ));
            }
            eprintln!(
                "  round {}/{} {:<34} {:>9.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs",
                round + 1,
                ctx.rounds,
                v.name,
                run.rps(),
                run.p50_us,
                run.p99_us
            );
            runs[index].push(run);
        }
    }
    Ok(runs)
}

/// The load every wrk comparison uses.
pub fn load(ctx: &Ctx) -> Load {
    Load {
        threads: 1,
        connections: 32,
        duration: ctx.wrk_duration,
    }
}

fn rps(runs: &[WrkRun]) -> Vec<f64> {
    runs.iter().map(WrkRun::rps).collect()
}

fn p99(runs: &[WrkRun]) -> Vec<f64> {
    runs.iter().map(|r| r.p99_us).collect()
}

fn p50(runs: &[WrkRun]) -> Vec<f64> {
    runs.iter().map(|r| r.p50_us).collect()
}

/// A table row per variant: throughput and latency, median (min–max).
pub fn table(variants: &[Variant], runs: &[Vec<WrkRun>]) -> String {
    let mut out = String::from(
        "| Server | req/s | p50 latency (µs) | p99 latency (µs) |\n| --- | --- | --- | --- |\n",
    );
    for (v, r) in variants.iter().zip(runs) {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            v.name,
            stats::show(&rps(r), 0),
            stats::show(&p50(r), 0),
            stats::show(&p99(r), 0)
        ));
    }
    out
}

/// Throughput and p99 ratios `a / b`, per round.
pub fn ratios(a: &[WrkRun], b: &[WrkRun]) -> (Vec<f64>, Vec<f64>) {
    (
        stats::ratios(&rps(a), &rps(b)),
        stats::ratios(&p99(a), &p99(b)),
    )
}

fn request(
    path: &str,
    body: Option<&str>,
) -> Result<axum::http::Request<axum::body::Body>, String> {
    let builder = axum::http::Request::builder()
        .uri(path)
        .header("x-auth-token", stubs::TOKEN);
    match body {
        Some(body) => builder
            .method("POST")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string())),
        None => builder.method("GET").body(axum::body::Body::empty()),
    }
    .map_err(|e| e.to_string())
}

/// The same three routers called in-process (tower `oneshot`, no sockets, one thread): the
/// layer's own CPU time per request, free of the network and of wrk. Returns
/// `[router][operation]` nanoseconds per request, one value per round.
fn in_process(ctx: &Ctx) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let logic = Arc::new(stubs::Logic::new()?);
    let routers = [
        stubs::generated(logic.clone()),
        stubs::handwritten(logic.clone()),
        stubs::bare(logic),
    ];
    let body = stubs::export_body();
    let ops = [
        (stubs::status_path(), None),
        (stubs::export_path(), Some(body.as_str())),
    ];
    let n = if ctx.quick { 2_000 } else { 20_000 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut out = vec![vec![Vec::new(); ops.len()]; routers.len()];
        for round in 0..=ctx.rounds {
            for (r, router) in routers.iter().enumerate() {
                for (o, (path, body)) in ops.iter().enumerate() {
                    let started = Instant::now();
                    for _ in 0..n {
                        let response = router
                            .clone()
                            .oneshot(request(path, *body)?)
                            .await
                            .map_err(|e| e.to_string())?;
                        if !response.status().is_success() {
                            return Err(format!("in-process {path}: {}", response.status()));
                        }
                        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                            .await
                            .map_err(|e| e.to_string())?;
                        std::hint::black_box(bytes);
                    }
                    // Round 0 warms up.
                    if round > 0 {
                        out[r][o].push(started.elapsed().as_nanos() as f64 / n as f64);
                    }
                }
            }
        }
        Ok(out)
    })
}

/// The generated router's status poll in process, with a token and with an AK/SK signature
/// (the same signed request each time): ns per request, one value per round.
fn signed_in_process(ctx: &Ctx) -> Result<(Vec<f64>, Vec<f64>), String> {
    let router = stubs::generated(Arc::new(stubs::Logic::new()?));
    let path = stubs::status_path();
    let signed = stubs::signed_get_headers("bench.local", &path)?;
    let build = |signed_request: bool| {
        let mut builder = axum::http::Request::builder()
            .uri(path.as_str())
            .method("GET");
        if signed_request {
            for (name, value) in &signed {
                builder = builder.header(name.as_str(), value.as_str());
            }
        } else {
            builder = builder.header("x-auth-token", stubs::TOKEN);
        }
        builder
            .body(axum::body::Body::empty())
            .map_err(|e| e.to_string())
    };
    let n = if ctx.quick { 2_000 } else { 20_000 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (mut token, mut signed_ns) = (Vec::new(), Vec::new());
        for round in 0..=ctx.rounds {
            for signed_request in [false, true] {
                let started = Instant::now();
                for _ in 0..n {
                    let response = router
                        .clone()
                        .oneshot(build(signed_request)?)
                        .await
                        .map_err(|e| e.to_string())?;
                    if !response.status().is_success() {
                        return Err(format!(
                            "in-process signed={signed_request}: {}",
                            response.status()
                        ));
                    }
                    std::hint::black_box(response);
                }
                let ns = started.elapsed().as_nanos() as f64 / n as f64;
                // Round 0 warms up.
                if round > 0 {
                    if signed_request {
                        signed_ns.push(ns)
                    } else {
                        token.push(ns)
                    }
                }
            }
        }
        Ok((token, signed_ns))
    })
}

/// Runs part 1 into `block`.
pub fn run(ctx: &Ctx, block: &mut Block) -> Result<(), String> {
    let dir = ctx.fresh_dir("overhead")?;
    let kinds = [
        ("generated", "generated router + validation"),
        ("handwritten", "hand-written axum, same contract"),
        ("bare", "hand-written axum, bare"),
    ];
    let mut servers = Vec::new();
    for (kind, _) in kinds {
        let mut args = vec![
            "serve-stub".to_string(),
            "--router".to_string(),
            kind.to_string(),
        ];
        args.extend(ctx.stub_lifetime_args());
        servers.push(Server::spawn_stub(
            &ctx.self_exe,
            &args,
            &dir.join(format!("{kind}.log")),
        )?);
    }
    let token = ("X-Auth-Token", stubs::TOKEN);
    let status_script = dir.join("status.lua");
    let export_script = dir.join("export.lua");
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write(&status_script, wrk::script("GET", &[token], None))?;
    let body = stubs::export_body();
    write(
        &export_script,
        wrk::script(
            "POST",
            &[token, ("Content-Type", "application/json")],
            Some(&body),
        ),
    )?;
    let load = load(ctx);
    let mut text = format!(
        "### 1. Generated server overhead\n\n\
         `wrk -t{} -c{} -d{}s` from its own process against three servers in their own processes \
         (tokio, 2 worker threads, `info` logging to a file as `roma-assets serve` does), each \
         answering the same in-memory logic (no store, no job is created); {} rounds, the order \
         rotating each round. ExportAsset sends 100 ids ({} bytes of JSON). *Same contract*: token \
         header, path lengths, typed JSON body with its item limits and content type, error body, \
         `X-Request-Id` and a span per request, written by hand; *bare*: none of that.\n\n",
        load.threads,
        load.connections,
        load.duration.as_secs(),
        ctx.rounds,
        body.len()
    );
    for (op, path, script) in [
        ("CheckAssetJobStatus", stubs::status_path(), &status_script),
        ("ExportAsset", stubs::export_path(), &export_script),
    ] {
        eprintln!("part 1: {op}");
        let variants: Vec<Variant> = kinds
            .iter()
            .zip(&servers)
            .map(|((_, name), server)| Variant {
                name: name.to_string(),
                url: format!("{}{path}", server.base),
                script: script.clone(),
            })
            .collect();
        let runs = compare(ctx, &variants, &load)?;
        let (tput, p99) = ratios(&runs[0], &runs[1]);
        let (tput_bare, p99_bare) = ratios(&runs[0], &runs[2]);
        text.push_str(&format!(
            "**{op}**\n\n{}\n| Ratio, same round | throughput | p99 latency |\n| --- | --- | --- |\n\
             | generated / hand-written (same contract) | {} | {} |\n\
             | generated / hand-written (bare) | {} | {} |\n\n",
            table(&variants, &runs),
            stats::show(&tput, 3),
            stats::show(&p99, 3),
            stats::show(&tput_bare, 3),
            stats::show(&p99_bare, 3),
        ));
        let tput_s = Spread::of(&tput);
        let p99_s = Spread::of(&p99);
        block.target(
            format!("1. Generated server throughput, {op}"),
            "≥ 0.95× hand-written",
            stats::show(&tput, 3),
            Verdict::from(tput_s.is_some_and(|s| s.median >= 0.95)),
        );
        block.target(
            format!("1. Generated server p99 latency, {op}"),
            "≤ 1.1× hand-written",
            stats::show(&p99, 3),
            Verdict::from(p99_s.is_some_and(|s| s.median <= 1.1)),
        );
    }

    // The same generated server, its status poll authenticated by a token or by an AK/SK
    // signature (signed once, replayed within the signature's 15 minutes, as a client polling
    // with one signature would not: it signs each request; the client's signing cost is not
    // the server's and is not measured here).
    eprintln!("part 1: CheckAssetJobStatus, signed");
    let generated = &servers[0];
    let host = generated.base.trim_start_matches("http://").to_string();
    let signed = stubs::signed_get_headers(&host, &stubs::status_path())?;
    let signed_script = dir.join("status-signed.lua");
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    write(&signed_script, wrk::script("GET", &pairs, None))?;
    let variants = [
        Variant {
            name: "generated, X-Auth-Token".into(),
            url: format!("{}{}", generated.base, stubs::status_path()),
            script: status_script.clone(),
        },
        Variant {
            name: "generated, AK/SK signature".into(),
            url: format!("{}{}", generated.base, stubs::status_path()),
            script: signed_script,
        },
    ];
    let runs = compare(ctx, &variants, &load)?;
    // token / signed throughput (> 1: signing costs), signed / token p99.
    let tput = stats::ratios(&rps(&runs[0]), &rps(&runs[1]));
    let p99_signed = stats::ratios(&p99(&runs[1]), &p99(&runs[0]));
    text.push_str(&format!(
        "**CheckAssetJobStatus, token vs AK/SK signature** (the generated server verifying \
         `SDK-HMAC-SHA256`: canonical request, SHA-256, HMAC, constant-time compare)\n\n{}\n\
         | Ratio, same round | throughput | p99 latency |\n| --- | --- | --- |\n\
         | token req/s / signed req/s; signed p99 / token p99 | {} | {} |\n\n",
        table(&variants, &runs),
        stats::show(&tput, 3),
        stats::show(&p99_signed, 3),
    ));
    block.target(
        "1. Signed status poll cost".to_string(),
        "≤ 1.25× a token-authenticated one (token req/s / signed req/s)",
        stats::show(&tput, 3),
        Verdict::from(Spread::of(&tput).is_some_and(|s| s.median <= 1.25)),
    );

    drop(servers);
    eprintln!("part 1: in-process");
    let ns = in_process(ctx)?;
    text.push_str(
        "**In-process, no sockets** (tower `oneshot` on one thread, the same routers and logic): \
         the layer's own CPU time, ns per request, median (min–max) of the rounds.\n\n\
         | Router | CheckAssetJobStatus | ExportAsset (100 ids) |\n| --- | --- | --- |\n",
    );
    for ((_, name), row) in kinds.iter().zip(&ns) {
        text.push_str(&format!(
            "| {name} | {} | {} |\n",
            stats::show(&row[0], 0),
            stats::show(&row[1], 0)
        ));
    }
    text.push_str(&format!(
        "| generated / hand-written (same contract), same round | {} | {} |\n",
        stats::show(&stats::ratios(&ns[0][0], &ns[1][0]), 3),
        stats::show(&stats::ratios(&ns[0][1], &ns[1][1]), 3)
    ));
    let (token_ns, signed_ns) = signed_in_process(ctx)?;
    text.push_str(&format!(
        "\nIn-process, CheckAssetJobStatus on the generated router: token {} ns, AK/SK signature \
         {} ns per request; signed / token, same round: {}.\n",
        stats::show(&token_ns, 0),
        stats::show(&signed_ns, 0),
        stats::show(&stats::ratios(&signed_ns, &token_ns), 3)
    ));
    block.section(text);
    Ok(())
}
