//! One file per fuzz target.

mod css_refs;
mod dotenv;
mod image;
mod manifest;
mod minify;
mod params;
mod pyproject;
mod serve_path;
mod template;

use super::Target;

pub fn all() -> Vec<Target> {
    vec![
        template::TARGET,
        css_refs::TARGET,
        minify::JS,
        minify::CSS,
        minify::HTML,
        params::TARGET,
        dotenv::TARGET,
        manifest::TARGET,
        image::TARGET,
        pyproject::TARGET,
        serve_path::TARGET,
    ]
}

/// Text of a case: targets whose real callers refuse non-UTF-8 (with a message, not a position)
/// take the input lossily, so every mutant exercises the parser.
pub(crate) fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}
