//! `kiln-fuzz`: runs every target (or the named ones) for a time or a number of cases each and
//! prints cases/s, crashes, hangs and new coverage; exit 1 when anything was found.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use super::runner::{self, Budget, Options};

#[derive(Parser)]
#[command(version, about = "Fuzz kiln's parsers (stable Rust, no instrumentation)")]
pub struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 10.0, conflicts_with = "cases")]
    seconds: f64,
    /// Cases per target instead of a time (deterministic for a given seed).
    #[arg(long)]
    cases: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed corpora: DIR/<target>/ for each target (files, and `*.seeds` lists of the example
    /// and fixture files to read; their optional `?` entries are read too).
    #[arg(long, default_value = "fuzz/corpus")]
    corpus: PathBuf,
    /// Minimized crash inputs, seeds too: DIR/<target>/.
    #[arg(long, default_value = "fuzz/regressions")]
    regressions: PathBuf,
    /// More seed directories, used for every target (e.g. a tree of real libraries).
    #[arg(long = "extra-seeds")]
    extra_seeds: Vec<PathBuf>,
    /// Reproducers go to OUT/<target>/.
    #[arg(short = 'o', long = "out", default_value = "target/fuzz-findings")]
    out: PathBuf,
    /// A case slower than this (ms) is a hang.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// List the targets and their properties.
    #[arg(long)]
    list: bool,
    /// Also print a Markdown table row per target.
    #[arg(long)]
    markdown: bool,
    /// Targets to run (default: all).
    targets: Vec<String>,
}

pub fn main(args: Args) -> ExitCode {
    let all = super::targets();
    if args.list {
        for t in &all {
            println!("{:<12} {}", t.name, t.properties.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        return ExitCode::SUCCESS;
    }
    for name in &args.targets {
        if !all.iter().any(|t| t.name == *name) {
            let names: Vec<&str> = all.iter().map(|t| t.name).collect();
            return crate::cli::usage(format!("no target {name:?} (targets: {})", names.join(", ")));
        }
    }
    let budget = match args.cases {
        Some(n) => Budget::Cases(n),
        None => Budget::Time(Duration::from_secs_f64(args.seconds.max(0.0))),
    };
    let mut found = 0;
    let mut rows = Vec::new();
    for t in all.iter().filter(|t| args.targets.is_empty() || args.targets.iter().any(|n| n == t.name)) {
        let mut opts = Options::new(budget, args.out.clone());
        opts.seed = args.seed;
        opts.slow = Duration::from_millis(args.slow_ms);
        opts.seeds = [args.corpus.join(t.name), args.regressions.join(t.name)]
            .into_iter()
            .chain(args.extra_seeds.iter().cloned())
            .filter(|d| d.is_dir())
            .collect();
        opts.optional_seeds = true;
        let report = runner::run(t, &opts);
        for m in &report.missing_seeds {
            eprintln!("kiln-fuzz: {}: a seed list names this path, which does not exist", m.display());
        }
        found += report.missing_seeds.len();
        println!("{}", report.summary());
        for f in &report.findings {
            println!("  {} ({}×): {}\n    reproducer: {}", f.kind.name(), f.count, f.message.lines().next().unwrap_or(""), f.reproducer.display());
        }
        found += report.findings.len();
        rows.push(format!(
            "| {} | {} | {:.1} | {:.0} | {} | {} | {} |",
            t.name,
            report.cases,
            report.elapsed.as_secs_f64(),
            report.cases_per_second(),
            report.crashes().count(),
            report.hangs().count(),
            report.new_coverage
        ));
    }
    if args.markdown {
        println!("\n| target | cases | seconds | cases/s | crashes | hangs | new coverage |\n|---|---|---|---|---|---|---|");
        for r in rows {
            println!("{r}");
        }
    }
    if found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
