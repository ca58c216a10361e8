//! kiln: hermetic, deterministic build actions for web applications. Each module is one action;
//! the binaries in src/bin/ are thin front ends over them.

pub mod cli;
pub mod diag;
pub mod dist;
pub mod framework;
pub mod fsutil;
pub mod hash;
pub mod manifest;
pub mod minify;
pub mod pyc;
pub mod scan;
pub mod serve;
pub mod webp;
