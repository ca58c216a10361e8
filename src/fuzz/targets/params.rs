//! Params files (`@FILE`, Bazel's multiline format: one argument a line) as every binary reads
//! them (`cli::expand_params`), then each action's clap parser on the arguments they give.

use std::cell::RefCell;
use std::ffi::OsString;

use crate::fuzz::{check, deterministic, PropertyViolation, Sig, Target, Verdict};

pub const TARGET: Target = Target {
    name: "params",
    properties: "a UTF-8 file expands to exactly its non-empty lines (\\n or \\r\\n), in order, between \
                 the arguments around it; a non-UTF-8 file is an error naming the file; deterministic; \
                 kiln-minify's, kiln-hash's, kiln-webp's and kiln-manifest-merge's parsers take the \
                 result without panicking",
    dictionary: &[
        "\n",
        "\r\n",
        "\r",
        "--out",
        "-o",
        "--kind",
        "js",
        "--concat",
        "--root",
        "@",
        "--",
        "--targets",
        "defaults",
        "=",
        " ",
        "\u{0}",
        "\u{ff}",
    ],
    max_len: 2048,
    run,
};

thread_local! {
    static TMP: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

fn run(input: &[u8]) -> Verdict {
    let file = TMP.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = tempfile::tempdir().ok();
        }
        t.as_ref().map(|d| d.path().join("args.params"))
    });
    let file = file.ok_or_else(|| PropertyViolation("fuzz harness: no tempdir".into()))?;
    std::fs::write(&file, input).map_err(|e| PropertyViolation(format!("fuzz harness: {e}")))?;
    let shown = file.to_string_lossy().into_owned();
    let argv = || vec![OsString::from("kiln-minify"), OsString::from(format!("@{shown}")), OsString::from("last")];
    let first = crate::cli::expand_params(argv());
    deterministic("expand_params", &first, &crate::cli::expand_params(argv()))?;
    let mut sig = Sig::new("params");
    let args = match (first, std::str::from_utf8(input)) {
        (Err(e), Err(_)) => {
            check(e.starts_with(&format!("{shown}: ")), || format!("the error does not name the file: {e}"))?;
            return Ok(sig.add("not-utf8").done());
        }
        (Err(e), Ok(_)) => return Err(PropertyViolation(format!("a UTF-8 params file was refused: {e}"))),
        (Ok(_), Err(_)) => return Err(PropertyViolation("a non-UTF-8 params file was taken".into())),
        (Ok(args), Ok(text)) => {
            let pieces: Vec<&str> = text.split('\n').collect();
            let last = pieces.len() - 1;
            let lines: Vec<&str> = pieces
                .iter()
                .enumerate()
                .map(|(i, l)| if i < last { l.strip_suffix('\r').unwrap_or(l) } else { l })
                .filter(|l| !l.is_empty())
                .collect();
            let mut want = vec!["kiln-minify".to_string()];
            want.extend(lines.iter().map(|l| l.to_string()));
            want.push("last".into());
            let got: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            check(got == want, || format!("expanded to {got:?}, the file's lines are {want:?}"))?;
            args
        }
    };
    sig.bucket(args.len());
    use clap::Parser;
    let kinds = [
        crate::cmd::minify::Args::try_parse_from(&args).err().map(|e| e.kind()),
        crate::cmd::hash::Args::try_parse_from(&args).err().map(|e| e.kind()),
        crate::cmd::webp::Args::try_parse_from(&args).err().map(|e| e.kind()),
        crate::cmd::manifest_merge::Args::try_parse_from(&args).err().map(|e| e.kind()),
    ];
    sig.add(&format!("{kinds:?}"));
    Ok(sig.done())
}
