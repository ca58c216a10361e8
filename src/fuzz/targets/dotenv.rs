//! The app's `.env`, which `kiln build` reads for IMAGE_OPTIMIZATION (`cmd::build::dotenv_value`).

use super::text;
use crate::cmd::build::dotenv_value;
use crate::fuzz::{check, deterministic, Sig, Target, Verdict};

pub const TARGET: Target = Target {
    name: "dotenv",
    properties: "the value found is a substring of one line (no line break in it); the last assignment \
                 wins (a line appended after the text decides); an unrelated key never matches; \
                 deterministic",
    dictionary: &["IMAGE_OPTIMIZATION", "=", "export ", "#", " # c", "\"", "'", "true", "1", "off", "\n", "\r\n", "\r", " ", "\t", "OTHER=1"],
    max_len: 1024,
    run,
};

const KEY: &str = "IMAGE_OPTIMIZATION";

fn run(input: &[u8]) -> Verdict {
    let src = text(input);
    let found = dotenv_value(&src, KEY);
    deterministic("dotenv_value", &found, &dotenv_value(&src, KEY))?;
    let mut sig = Sig::new("dotenv");
    if let Some(v) = found {
        check(!v.contains('\n') && src.contains(v), || format!("value {v:?} is not within one line"))?;
        let v = v.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
        sig.add(&["1", "true", "yes", "on", "0", "false", "no", "off", ""].contains(&v.as_str())).add(&v.is_empty());
    } else {
        sig.add("none");
    }
    for (line, want) in [("IMAGE_OPTIMIZATION=yes", "yes"), ("export IMAGE_OPTIMIZATION = 0 # off", " 0")] {
        let appended = format!("{src}\n{line}\n");
        let got = dotenv_value(&appended, KEY);
        check(got == Some(want), || format!("after appending {line:?}: {got:?}, not {want:?}"))?;
    }
    let other = dotenv_value(&src, "KILN_FUZZ_UNRELATED_KEY");
    check(other.is_none() || src.contains("KILN_FUZZ_UNRELATED_KEY"), || "an absent key matched".into())?;
    Ok(sig.done())
}
