pub fn compile_main(_a: CompileArgs) -> std::process::ExitCode { crate::cli::fail(["not yet"]) }
#[derive(clap::Args)] pub struct CompileArgs {}
