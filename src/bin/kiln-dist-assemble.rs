//! kiln-dist-assemble: lays out a dist from `dest<TAB>src` lines (not implemented yet).
fn main() -> std::process::ExitCode {
    kiln::cli::fail(["kiln-dist-assemble: not implemented yet"])
}
