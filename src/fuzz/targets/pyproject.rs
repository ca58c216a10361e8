//! `[tool.kiln]` in pyproject.toml (`framework::pyproject::tool_kiln_args_of`), then `kiln
//! build`'s own parser on the flags it stands for.

use std::sync::OnceLock;

use super::text;
use crate::cmd::build::{known_flags, parse_with_file_flags};
use crate::framework::pyproject::tool_kiln_args_of;
use crate::fuzz::{check, deterministic, position_inside, Sig, Target, Verdict};

pub const TARGET: Target = Target {
    name: "pyproject",
    properties: "errors name pyproject.toml and a line:col inside it; flags come out as --name [value] \
                 of kiln build's own flags; clap takes them without panicking; deterministic",
    dictionary: &[
        "[tool.kiln]",
        "[tool]",
        "kiln = {",
        "}",
        "[project]",
        "\n",
        "=",
        "\"",
        "'''",
        "true",
        "false",
        "1",
        "-1",
        "1.5",
        "[",
        "]",
        "static_root",
        "static-root",
        "keep_source",
        "framework",
        "\"asok\"",
        "jobs",
        "webp",
        "out",
        "#",
        "\\u00e9",
        "inf",
        "1979-05-27",
    ],
    max_len: 2048,
    run,
};

fn known() -> &'static [(String, bool)] {
    static KNOWN: OnceLock<Vec<(String, bool)>> = OnceLock::new();
    KNOWN.get_or_init(known_flags)
}

fn run(input: &[u8]) -> Verdict {
    let src = text(input);
    let first = tool_kiln_args_of(&src, "pyproject.toml", known());
    deterministic(
        "tool_kiln_args",
        &first.as_ref().map_err(ToString::to_string),
        &tool_kiln_args_of(&src, "pyproject.toml", known()).as_ref().map_err(ToString::to_string),
    )?;
    let mut sig = Sig::new("pyproject");
    match first {
        Err(e) => {
            check(e.path == "pyproject.toml", || format!("the error names {}", e.path))?;
            position_inside(&src, e.line, e.col, "pyproject error")?;
            sig.add("err").message(&e.message.chars().take(40).collect::<String>());
        }
        Ok(args) => {
            let mut i = 0;
            while i < args.len() {
                let flag = args[i].strip_prefix("--").unwrap_or("");
                // A boolean for a value-taking flag comes as one `--flag=true|false` argument.
                let (flag, inline) = match flag.split_once('=') {
                    Some((f, v @ ("true" | "false"))) => (f, Some(v)),
                    _ => (flag, None),
                };
                let Some((_, takes_value)) = known().iter().find(|(n, _)| n == flag) else {
                    return Err(crate::fuzz::PropertyViolation(format!("{:?} is not one of kiln build's flags", args[i])));
                };
                check(inline.is_none() || *takes_value, || format!("{:?}: a switch with a value", args[i]))?;
                i += 1 + usize::from(*takes_value && inline.is_none());
                sig.add(flag);
            }
            check(i == args.len(), || format!("a value-taking flag has no value: {args:?}"))?;
            let parsed = parse_with_file_flags(args, &[]);
            sig.add(&parsed.is_ok());
        }
    }
    Ok(sig.done())
}
