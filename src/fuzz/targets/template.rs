//! The template tokenizer and asset-block scanner (`scan::scan_source`, `scan::template::tags`)
//! and the rewrite that replaces blocks and static_url calls (`scan::rewrite_source`).

use super::text;
use crate::fuzz::{check, deterministic, position_inside, Sig, Target, Verdict};
use crate::manifest::{AssetEntry, BlockEntry, Manifest};
use crate::scan::{self, block_key, Rewrite};

pub const TARGET: Target = Target {
    name: "template",
    properties: "errors inside the input; tag/block/static_url spans in bounds, on char boundaries, \
                 delimited as claimed, blocks not overlapping; deterministic; rewrite with every \
                 found path in the manifest succeeds, changes only the found spans, and scanning \
                 its output finds no block left",
    dictionary: &[
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "<%",
        "%>",
        "{{!",
        "{%!",
        "{% end %}",
        "{% endassetman %}",
        "{% apply assetman.include_js %}",
        "{% apply assetman.include_css %}",
        "{% assetman include_css %}",
        "{% assetman include_js %}",
        "{% if x %}",
        "{% for a in b %}",
        "{% block c %}",
        "assetman.static_url('img/a.png')",
        "assetman.static_url(\"",
        "')",
        "\n",
        "js/a.js\n",
        "css/b.css\n",
        "<script>",
        "</script>",
        "'",
        "\"",
        "\\",
    ],
    max_len: 4096,
    run,
};

fn run(input: &[u8]) -> Verdict {
    let src = text(input);
    let first = scan::scan_source(&src);
    let second = scan::scan_source(&src);
    deterministic("scan", &format!("{first:?}"), &format!("{second:?}"))?;
    let lines = crate::diag::LineIndex::new(&src);
    let tags = scan::template::tags(&src, &lines);
    let mut sig = Sig::new("template");
    match &tags {
        Ok(tags) => {
            let mut prev_end = 0;
            for t in tags {
                check(prev_end <= t.start && t.start < t.end && t.end <= src.len(), || {
                    format!("tag span {}..{} overlaps or is out of bounds", t.start, t.end)
                })?;
                check(src.is_char_boundary(t.start) && src.is_char_boundary(t.end), || format!("tag span {}..{} cuts a character", t.start, t.end))?;
                let (open, close) = crate::scan::template::OPENERS[t.kind as usize];
                check(src[t.start..].starts_with(open) && src[..t.end].ends_with(close), || {
                    format!("tag {}..{} is not {open}…{close}", t.start, t.end)
                })?;
                prev_end = t.end;
                let word = ["apply", "assetman", "end", "endassetman", "if", "for", "block", "extends"]
                    .iter()
                    .find(|w| **w == t.word)
                    .copied()
                    .unwrap_or("other");
                sig.add(&(t.kind as usize)).add(word);
            }
            sig.bucket(tags.len());
        }
        Err(p) => {
            position_inside(&src, p.line, p.col, "tag error")?;
            sig.add("tags-err").message(&p.message);
        }
    }
    let scan = match first {
        Err(p) => {
            position_inside(&src, p.line, p.col, "scan error")?;
            sig.add("err").message(&p.message);
            return Ok(sig.done());
        }
        Ok(s) => s,
    };
    let mut prev_end = 0;
    for b in &scan.blocks {
        let (s, e) = b.span;
        check(prev_end <= s && s < e && e <= src.len(), || format!("block span {s}..{e} overlaps the previous or is out of bounds"))?;
        check(src[s..].starts_with("{%") && src[..e].ends_with("%}"), || format!("block span {s}..{e} is not a {{% … %}} pair"))?;
        check(lines.at(&src, s) == (b.line, b.col), || format!("block at {s} claims {}:{}", b.line, b.col))?;
        prev_end = e;
        sig.add(&b.kind).bucket(b.paths.len());
    }
    for u in &scan.static_urls {
        let (s, e) = u.call;
        check(s < e && e <= src.len() && src.is_char_boundary(s) && src.is_char_boundary(e), || {
            format!("static_url span {s}..{e} is not in the input")
        })?;
        check(src[s..e].starts_with("assetman.static_url") && src[s..e].contains(u.path.as_str()), || {
            format!("static_url span {s}..{e} does not hold {:?}", u.path)
        })?;
        if let Some((ts, te)) = u.whole_tag {
            check(ts <= s && e <= te && src[ts..].starts_with("{{"), || format!("whole tag {ts}..{te} does not hold the call {s}..{e}"))?;
        }
        sig.add(&u.whole_tag.is_some());
    }
    sig.bucket(scan.blocks.len()).bucket(scan.static_urls.len());
    // A manifest that knows every path found: the rewrite must then succeed.
    let mut manifest = Manifest::default();
    for u in &scan.static_urls {
        manifest.assets.insert(
            u.path.clone(),
            AssetEntry {
                version: "v".into(),
                versioned_path: format!("V/{}.x", &crate::manifest::md5_hex(u.path.as_bytes())[..8]),
                ..Default::default()
            },
        );
    }
    for b in &scan.blocks {
        let key = block_key(&b.paths);
        manifest.blocks.insert(
            key.clone(),
            BlockEntry { versioned_path: format!("f/{key}.js"), integrity: "sri".into(), paths: b.paths.clone(), ..Default::default() },
        );
    }
    let rw = Rewrite { manifest, url_prefix: "/s/".into() };
    let out = scan::rewrite_source(&src, &rw).map_err(|p| crate::fuzz::PropertyViolation(format!("rewrite failed with every path known: {p:?}")))?;
    deterministic("rewrite", &out, &scan::rewrite_source(&src, &rw).unwrap_or_default())?;
    if scan.blocks.is_empty() && scan.static_urls.is_empty() {
        check(out == src, || "rewrite changed a template with nothing to rewrite".into())?;
    } else {
        // Outside the rewritten spans, the bytes are the input's.
        let mut spans: Vec<(usize, usize)> = scan.blocks.iter().map(|b| b.span).collect();
        spans.extend(scan.static_urls.iter().map(|u| u.whole_tag.unwrap_or(u.call)));
        spans.sort();
        let first = spans[0].0;
        let last = spans.iter().map(|s| s.1).max().unwrap_or(0);
        check(out.starts_with(&src[..first]) && out.ends_with(&src[last..]), || "rewrite changed bytes outside the found spans".into())?;
        let again = scan::scan_source(&out).map(|s| s.blocks.len());
        check(matches!(again, Ok(0)), || format!("scanning the rewritten template: {again:?}, not Ok(0) blocks"))?;
    }
    Ok(sig.done())
}
