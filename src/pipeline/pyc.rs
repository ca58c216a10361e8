//! Step 7: bytecode for every module, compiled only when its source changed. The interpreter is
//! identified without being started, and started only when something must be compiled.

use std::collections::BTreeMap;

use super::cache::{Built, Cache, Inputs, Outputs, Read};
use super::sources::{self, program_id};
use super::{BuildConfig, Errors, Problems};
use crate::pyc::{pyc_path, Compiler, PycError, PycOptions, Source};

/// The bytecode of `modules` (path in the app, source), one unit each.
pub fn compile(cache: &Cache, config: &BuildConfig, modules: &[(&String, &sources::Source)]) -> Result<Outputs, Errors> {
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let opts = PycOptions { keep_source: config.keep_source, ..PycOptions::default() };
    let interpreter = program_id(&config.python).map_err(super::one)?;
    let units: Vec<(&str, usize, String, Inputs)> = modules
        .iter()
        .map(|(rel, source)| {
            let inputs = BTreeMap::from([
                (rel.to_string(), source.md5.clone()),
                ("interpreter".to_string(), interpreter.clone()),
                // "canonical refs": the marshal form since the workers stopped forking per module.
                ("options".to_string(), format!("{} canonical refs {opts:?}", env!("CARGO_PKG_VERSION"))),
            ]);
            (rel.as_str(), source.bytes.len(), format!("pyc {rel}"), inputs)
        })
        .collect();
    let missed: Vec<&(&str, usize, String, Inputs)> = units.iter().filter(|(_, _, name, inputs)| !cache.holds(name, inputs)).collect();
    let misses: Vec<&str> = missed.iter().map(|(rel, ..)| *rel).collect();
    let mut compiled = compile_misses(config, &misses, missed.iter().map(|(_, size, ..)| *size).sum(), &opts)?;
    let mut problems = Problems::default();
    let mut files = Vec::new();
    for (rel, _, name, inputs) in units {
        let built = cache.get_or_build(&name, inputs, Read::Lazy, || {
            compiled
                .remove(rel)
                .unwrap_or_else(|| Err(PycError::Compile { path: rel.to_string(), kind: "kiln".into(), message: "not compiled".into() }))
        });
        match built {
            Ok(outs) => files.extend(outs),
            Err(e) => problems.push(e),
        }
    }
    problems.check()?;
    Ok(files)
}

const SOURCE_PER_WORKER: usize = 64 * 1024;

/// Compiles the modules the cache does not hold (`bytes` of source in all), on up to one worker
/// per core (or `--jobs`).
fn compile_misses<'a>(
    config: &BuildConfig,
    misses: &[&'a str],
    bytes: usize,
    opts: &PycOptions,
) -> Result<BTreeMap<&'a str, Result<Built, PycError>>, Errors> {
    if misses.is_empty() {
        return Ok(BTreeMap::new());
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Another worker costs an interpreter start, about as long as compiling 20 KiB of source:
    // without --jobs, one more per 64 KiB to compile (a small app's modules take one worker).
    let by_size = bytes / SOURCE_PER_WORKER + 1;
    let n = config.jobs.unwrap_or(cores.min(by_size)).min(misses.len()).max(1);
    let compiler = Compiler::start(&config.python, n).map_err(super::one)?;
    let sources: Vec<Source> = misses.iter().map(|rel| Source { key: rel.to_string(), path: config.src.join(rel) }).collect();
    let results = compiler.compile(&sources, opts);
    Ok(misses.iter().zip(results).map(|(rel, r)| (*rel, r.map(|bytes| vec![(pyc_path(rel, &compiler.info, opts), bytes)]))).collect())
}
