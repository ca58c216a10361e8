//! kiln-webp: JPEG/PNG/GIF → WebP (not implemented yet).
fn main() -> std::process::ExitCode {
    kiln::cli::fail(["kiln-webp: not implemented yet"])
}
