//! `kiln build`: the framework profile (detected, or chosen), `[tool.kiln]` and asok's flags onto
//! the engine's `BuildConfig`, then the summary (and the report).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::assemble::Layout;
use crate::framework::{self, Framework, Overrides};
use crate::fsutil;
use crate::hash::{Compression, UrlStyle};
use crate::pipeline::{self, default_cache_dir, BuildConfig, Naming, Outcome, RemoteConfig};

#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// The app's source tree.
    #[arg(default_value = ".")]
    pub src: PathBuf,
    /// The dist directory (built beside it and swapped in only when the build succeeds).
    #[arg(short = 'o', long = "out", default_value = "dist")]
    pub out: PathBuf,
    /// Keep the .py sources beside their bytecode (`__pycache__/mod.<tag>.pyc`).
    #[arg(long)]
    pub keep_source: bool,
    /// Ship the development database (db.sqlite3).
    #[arg(long)]
    pub with_db: bool,
    /// Also write the dist as a deterministic archive (.tar.zst, .tar.gz or .zip).
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Worker threads (default: all cores). Outputs never depend on it.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// For every unit rebuilt instead of reused from the cache, say which input changed.
    #[arg(long)]
    pub explain: bool,
    /// Write a self-contained HTML report (sizes per kind and file, the asset graph).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Python interpreter for bytecode (default: python3 on PATH).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Convert images to WebP: `auto` follows IMAGE_OPTIMIZATION (environment, then the app's .env).
    #[arg(long, value_enum, default_value = "auto")]
    pub image_optimization: Toggle,
    /// The runtime that serves the dist (default: detected from the tree, and said).
    #[arg(long, value_enum)]
    pub framework: Option<Framework>,
    /// Static root, relative to SRC (default: the framework's, e.g. src/partials).
    #[arg(long)]
    pub static_root: Option<String>,
    /// Template directory, relative to SRC (default: the framework's, e.g. src/templates).
    #[arg(long)]
    pub templates: Option<String>,
    /// URL prefix the static root is served under (default: the framework's: /s/, / for asok,
    /// STATIC_URL for Django).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Absolute URLs written into outputs use this prefix (a CDN origin).
    #[arg(long)]
    pub cdn_prefix: Option<String>,
    /// Browser targets for CSS (a browserslist query).
    #[arg(long, default_value = "defaults")]
    pub targets: String,
    /// Precompressed .br/.gz/.zst twins of text assets: `fast` (brotli 5, zstd 9), `max`
    /// (brotli 11, zstd 19: ~7% smaller, ~20× the CPU) or `off`.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "fast")]
    pub compress: Compression,
    /// LESS compiler for include_less blocks.
    #[arg(long, value_name = "PATH")]
    pub lessc: Option<PathBuf>,
    /// Cache directory (default: .kiln-cache beside the output).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the cache (local or remote).
    #[arg(long)]
    pub no_cache: bool,
    /// A shared cache of units over Bazel's HTTP remote-cache protocol (`http://host[:port][/prefix]`:
    /// nginx WebDAV, bazel-remote, …), beside the local one; also KILN_REMOTE_CACHE. A cache that
    /// fails is one warning, never a failed build.
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Upload the units this build makes to the remote cache (`false`: a read-only client).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub remote_cache_upload: bool,
    /// Seconds to wait for each request to the remote cache before building without it.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub remote_cache_timeout: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Auto,
    On,
    Off,
}

impl BuildArgs {
    /// The engine's configuration for these flags and the app's framework (which may have to be
    /// asked: Django's finders).
    pub fn config(&self) -> Result<BuildConfig, framework::FrameworkError> {
        let cache_dir = (!self.no_cache).then(|| {
            let abs_out = fsutil::absolute_lexical(&self.out).unwrap_or_else(|_| self.out.clone());
            self.cache_dir.clone().unwrap_or_else(|| default_cache_dir(&abs_out))
        });
        let overrides = Overrides {
            framework: self.framework,
            static_root: self.static_root.clone(),
            templates: self.templates.clone(),
            prefix: self.prefix.clone(),
        };
        let p = framework::profile(&self.src, &self.python, &overrides)?;
        // A runtime that finds files by their source name (asok) gets them under it, and no
        // precompressed twins: it serves none.
        let source_names = p.naming == Naming::SourceNames;
        Ok(BuildConfig {
            src: self.src.clone(),
            out: self.out.clone(),
            layout: Layout { with_db: self.with_db, ..p.layout },
            naming: p.naming,
            found: p.statics,
            framework: format!("{} app ({})", p.framework.name(), p.reason),
            prefix: p.url_prefix,
            cdn_prefix: self.cdn_prefix.clone(),
            url_style: if source_names { UrlStyle::Source } else { UrlStyle::Filename },
            targets: self.targets.clone(),
            compress: if source_names { Compression::Off } else { self.compress },
            lessc: self.lessc.clone(),
            webp: image_optimization(&self.src, self.image_optimization),
            keep_source: self.keep_source,
            python: self.python.clone(),
            archive: self.archive.clone(),
            jobs: self.jobs,
            explain: self.explain,
            remote: self.remote_config().filter(|_| !self.no_cache),
            cache_dir,
            progress: !self.quiet,
        })
    }

    /// `--remote-cache`, with its upload switch and timeout (an empty URL: none).
    pub fn remote_config(&self) -> Option<RemoteConfig> {
        let url = self.remote_cache.as_deref().filter(|u| !u.is_empty())?;
        let timeout = Duration::try_from_secs_f64(self.remote_cache_timeout).unwrap_or(Duration::from_secs(5));
        Some(RemoteConfig { url: url.to_string(), upload: self.remote_cache_upload, timeout })
    }

    /// Usage problems with the remote cache's flags, found before any work.
    pub fn remote_problem(&self) -> Option<String> {
        let rc = self.remote_config()?;
        if !(self.remote_cache_timeout > 0.0 && self.remote_cache_timeout.is_finite()) {
            return Some(format!("--remote-cache-timeout {}: a number of seconds above 0", self.remote_cache_timeout));
        }
        crate::remote_cache::RemoteCache::new(&rc.url, rc.timeout).err().map(|e| format!("--remote-cache {e}"))
    }
}

/// The environment variable that sets `--remote-cache` (for CI); the command line wins over it,
/// and it wins over `[tool.kiln] remote_cache`.
pub const REMOTE_CACHE_ENV: &str = "KILN_REMOTE_CACHE";

/// KILN_REMOTE_CACHE, unless the command line gave `--remote-cache`.
fn with_remote_cache_env(mut args: BuildArgs, user: &[std::ffi::OsString]) -> BuildArgs {
    let given = user.iter().any(|a| a.to_str().is_some_and(|a| a == "--remote-cache" || a.starts_with("--remote-cache=")));
    if let (false, Ok(url)) = (given, std::env::var(REMOTE_CACHE_ENV)) {
        args.remote_cache = Some(url);
    }
    args
}

/// `kiln build`'s flags alone, for re-reading the command line under `[tool.kiln]`.
#[derive(clap::Parser)]
#[command(name = "kiln build", args_override_self = true)]
struct BuildCommand {
    #[command(flatten)]
    args: BuildArgs,
}

/// The arguments with `[tool.kiln]` of SRC's pyproject.toml beneath them: the file's settings
/// come first, so every flag given on the command line (`user`, after `build`) wins.
pub fn with_pyproject(args: BuildArgs, user: &[std::ffi::OsString]) -> Result<BuildArgs, String> {
    let from_file = framework::pyproject::tool_kiln_args(&args.src, &known_flags()).map_err(|e| e.to_string())?;
    if from_file.is_empty() {
        return Ok(args);
    }
    parse_with_file_flags(from_file, user)
}

/// `kiln build`'s long flags (without dashes), each with whether it takes a value.
pub fn known_flags() -> Vec<(String, bool)> {
    use clap::CommandFactory;
    let cmd = BuildCommand::command();
    cmd.get_arguments().filter_map(|a| Some((a.get_long()?.to_string(), a.get_action().takes_values()))).collect()
}

/// The flags `[tool.kiln]` stands for, then the user's (which win).
pub fn parse_with_file_flags(from_file: Vec<String>, user: &[std::ffi::OsString]) -> Result<BuildArgs, String> {
    let argv = std::iter::once("kiln build".into()).chain(from_file.into_iter().map(Into::into)).chain(user.iter().cloned());
    <BuildCommand as clap::Parser>::try_parse_from(argv).map(|b| b.args).map_err(|e| e.to_string())
}

/// IMAGE_OPTIMIZATION from the environment, else from the app's `.env` (read, never shipped).
fn image_optimization(src: &Path, toggle: Toggle) -> bool {
    match toggle {
        Toggle::On => true,
        Toggle::Off => false,
        Toggle::Auto => {
            if let Ok(v) = std::env::var("IMAGE_OPTIMIZATION") {
                return truthy(&v);
            }
            let Ok(text) = std::fs::read_to_string(src.join(".env")) else { return false };
            dotenv_value(&text, "IMAGE_OPTIMIZATION").is_some_and(truthy)
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().trim_matches(['"', '\'']).to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// The value of `key` in a `.env` text: its last `KEY=value` line (`export ` allowed), without
/// a trailing ` # comment`.
pub fn dotenv_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
        .rfind(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.split(" #").next().unwrap_or(""))
}

pub fn main(args: BuildArgs) -> ExitCode {
    let user: Vec<std::ffi::OsString> = crate::cli::args_with_params().unwrap_or_default().into_iter().skip_while(|a| a != "build").skip(1).collect();
    let args = match with_pyproject(args, &user) {
        Ok(a) => with_remote_cache_env(a, &user),
        Err(e) => return crate::cli::fail([e]),
    };
    if let Some(problem) = args.remote_problem() {
        return crate::cli::usage(problem);
    }
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => return crate::cli::fail([e]),
    };
    if let Some(problem) = config.output_problem() {
        return crate::cli::usage(problem);
    }
    if let Some(j) = args.jobs {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let started = Instant::now();
    match pipeline::build(&config) {
        Ok(outcome) => {
            for line in &outcome.warnings {
                eprintln!("kiln build: {line}");
            }
            for line in &outcome.explain {
                eprintln!("{line}");
            }
            print_summary(&args, &outcome, started.elapsed());
            if let Some(report) = &args.report {
                if let Err(e) = fsutil::atomic_write(report, pipeline::report::html(&outcome).as_bytes()) {
                    return crate::cli::fail([e]);
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => crate::cli::fail(errors),
    }
}

fn print_summary(args: &BuildArgs, o: &Outcome, took: Duration) {
    eprintln!("kiln build: {}", o.framework);
    eprintln!(
        "kiln build: {} files in, {} files out → {} ({} of {} units reused from the cache{}) in {:.0} ms",
        o.files_in,
        o.files_out,
        fsutil::display(&args.out),
        o.cache_hits,
        o.units,
        if o.remote_hits > 0 { format!(", {} of them from the remote cache", o.remote_hits) } else { String::new() },
        took.as_secs_f64() * 1000.0
    );
    for (kind, k) in &o.kinds {
        let saved = k.bytes_in as i64 - k.bytes_out as i64;
        eprintln!("  {kind:<14} {:>5} files  {:>10} → {:>10} bytes  ({saved:+} saved)", k.files, k.bytes_in, k.bytes_out);
    }
    let stages: Vec<String> = o.stages.iter().map(|(s, t)| format!("{s} {:.0} ms", t * 1000.0)).collect();
    eprintln!("  stages: {}", stages.join(", "));
}
