//! kiln: hermetic, deterministic build actions for web applications. Layers, top to bottom:
//! `cmd` (each command's arguments and flow; the binaries in src/bin/ only call it), the runtime
//! profiles (`framework`: what the engine is told to build for asok, Django, Assetman), `pipeline`
//! (the build engine), the action modules (`minify`, `hash`, `manifest`, `webp`, `pyc`, `scan`,
//! `assemble`, `serve`), and what they share (`fsutil`, `diag`, `cli`). Imports point down only. `fuzz` sits on
//! top: its targets drive every parser, and only `kiln-fuzz` and tests/fuzz.rs use it.

pub mod assemble;
pub mod cli;
pub mod cmd;
pub mod diag;
pub mod framework;
pub mod fsutil;
pub mod fuzz;
pub mod hash;
pub mod manifest;
pub mod minify;
pub mod pipeline;
pub mod pyc;
pub mod remote_cache;
pub mod scan;
pub mod serve;
pub mod webp;
