// The binaries are linked as fixed-address executables: a PIE would have its ~10 MB of
// relocated read-only data (swc's and lightningcss's tables) copied page by page on every
// start, ~12 ms of page faults for each kiln process (and Bazel runs one per action).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
