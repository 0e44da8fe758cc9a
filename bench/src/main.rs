//! `roma-bench`: runs the benchmarks and the load test (`run`), and is also the stub servers they
//! start in their own processes (`serve-stub`, `serve-constant`). `cargo xtask bench` builds it in
//! release mode and calls `run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use roma_assets_bench::report::Block;
use roma_assets_bench::{
    Ctx, build_cost, client, load, machine, memory, overhead, report, roundtrip, scale,
    status_load, stubs, wrk,
};

#[derive(Parser)]
#[command(about = "roma-assets benchmarks and load test (run them with `cargo xtask bench`)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmarks and write the results.
    Run(RunArgs),
    /// Serve a stub router on 127.0.0.1 (internal: started by `run`).
    ServeStub {
        /// Which router.
        #[arg(long, value_enum)]
        router: RouterKind,
        /// Exit after this many seconds at the latest.
        #[arg(long, default_value_t = 600)]
        max_secs: u64,
    },
    /// Serve a constant JSON body on one GET route (internal: started by `run`).
    ServeConstant {
        /// The route, e.g. `/v2/demo/instances/demo/assets/jobs/ID`.
        #[arg(long)]
        route: String,
        /// The file holding the body.
        #[arg(long)]
        body_file: PathBuf,
        /// Exit after this many seconds at the latest.
        #[arg(long, default_value_t = 600)]
        max_secs: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RouterKind {
    Generated,
    Handwritten,
    Bare,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Server,
    Client,
    Status,
    Memory,
    Roundtrip,
    Load,
    Scale,
    Build,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The workspace root.
    #[arg(long)]
    root: PathBuf,
    /// The `roma-assets` release binary.
    #[arg(long)]
    server_bin: PathBuf,
    /// The results file to update (only the measured blocks are replaced).
    #[arg(long)]
    out: PathBuf,
    /// A short smoke run: 1 round, short wrk runs, small packages and counts.
    #[arg(long)]
    quick: bool,
    /// Also measure build times (a clean build: minutes).
    #[arg(long)]
    build: bool,
    /// Run only these parts (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Rounds of each comparison (default 5, 1 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds of each wrk run (default 5, 2 with --quick).
    #[arg(long)]
    wrk_secs: Option<u64>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::ServeStub { router, max_secs } => serve(
            || {
                let logic = Arc::new(stubs::Logic::new()?);
                Ok(match router {
                    RouterKind::Generated => stubs::generated(logic),
                    RouterKind::Handwritten => stubs::handwritten(logic),
                    RouterKind::Bare => stubs::bare(logic),
                })
            },
            max_secs,
        ),
        Command::ServeConstant {
            route,
            body_file,
            max_secs,
        } => serve(
            || {
                let body = std::fs::read(&body_file)
                    .map_err(|e| format!("reading {}: {e}", body_file.display()))?;
                Ok(stubs::constant(&route, body.into()))
            },
            max_secs,
        ),
    }
}

fn serve(router: impl FnOnce() -> Result<axum::Router, String>, max_secs: u64) -> ExitCode {
    let served = router().and_then(|router| {
        roma_assets_bench::block_on(stubs::serve(router, Duration::from_secs(max_secs)))?
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: RunArgs) -> ExitCode {
    // Absolute, since cargo runs with other working directories (build cost).
    match args.root.canonicalize() {
        Ok(root) => args.root = root,
        Err(e) => {
            eprintln!("error: {}: {e}", args.root.display());
            return ExitCode::FAILURE;
        }
    }
    let work = args.root.join("target").join("bench");
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("error: creating {}: {e}", work.display());
        return ExitCode::FAILURE;
    }
    let self_exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: finding this program: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Ctx {
        root: args.root.clone(),
        work,
        self_exe,
        server_bin: args.server_bin.clone(),
        wrk: wrk::find(),
        rounds: args.rounds.unwrap_or(if args.quick { 1 } else { 5 }),
        wrk_duration: Duration::from_secs(args.wrk_secs.unwrap_or(if args.quick { 2 } else { 5 })),
        quick: args.quick,
    };
    let wanted = |part: Part| {
        if args.only.is_empty() {
            part != Part::Build || args.build
        } else {
            args.only.contains(&part)
        }
    };
    eprintln!("describing the machine (a 2 s idle sample)...");
    let machine = machine::describe(&ctx.root);
    let mut failed = false;
    let mut runtime = Block::default();
    type PartFn = fn(&Ctx, &mut Block) -> Result<(), String>;
    let parts: [(Part, &str, bool, PartFn); 7] = [
        (
            Part::Server,
            "1. generated server overhead",
            true,
            overhead::run,
        ),
        (
            Part::Status,
            "3. job status under load",
            true,
            status_load::run,
        ),
        (
            Part::Client,
            "2. generated client overhead",
            false,
            client::run,
        ),
        (
            Part::Memory,
            "4. import streaming memory",
            false,
            memory::run,
        ),
        (
            Part::Roundtrip,
            "5. roundtrip latency",
            false,
            roundtrip::run,
        ),
        (Part::Load, "load and soak", false, load::run),
        (Part::Scale, "7. scale-out", true, scale::run),
    ];
    let mut ran_runtime = false;
    for (part, name, needs_wrk, f) in parts {
        if !wanted(part) {
            continue;
        }
        ran_runtime = true;
        if needs_wrk && ctx.wrk.is_none() {
            eprintln!("skipping {name}: wrk is not installed (apt-get install -y wrk)");
            runtime.section(format!(
                "### {name}\n\nNot run: `wrk` is not installed (`apt-get install -y wrk`)."
            ));
            continue;
        }
        eprintln!("== {name}");
        if let Err(e) = f(&ctx, &mut runtime) {
            eprintln!("error in {name}: {e}");
            runtime.section(format!("### {name}\n\n**Failed:** {e}"));
            failed = true;
        }
    }
    let mut blocks = Vec::new();
    let end_note = format!("Load average at the end: {}.\n", machine::load_average());
    if ran_runtime {
        let text = runtime.render("Results", &format!("{machine}\n{end_note}"));
        println!("{text}");
        blocks.push(("results", text));
    }
    if wanted(Part::Build) {
        let mut build = Block::default();
        eprintln!("== 6. build cost");
        if let Err(e) = build_cost::run(&ctx, &mut build) {
            eprintln!("error in build cost: {e}");
            build.section(format!("**Failed:** {e}"));
            failed = true;
        }
        let text = build.render(
            "Build cost",
            &format!(
                "{machine}\nLoad average at the end: {}.\n",
                machine::load_average()
            ),
        );
        println!("{text}");
        blocks.push(("build", text));
    }
    if let Err(e) = report::write(&args.out, &blocks) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("results written to {}", args.out.display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
