//! The commands: each `kiln` subcommand's and each `kiln-*` binary's arguments and flow, over
//! the engine (pipeline) and the action modules. The binaries in src/bin/ only call `main`.

pub mod assemble;
pub mod assetman_compile;
pub mod build;
pub mod hash;
pub mod manifest_merge;
pub mod minify;
pub mod pyc_wrap;
pub mod scan;
pub mod serve;
pub mod webp;
