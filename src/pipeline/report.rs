//! `kiln build --report`: one self-contained HTML page (no scripts, no network): bytes before
//! and after per kind and per file as bars, the biggest outputs, and the asset graph
//! (templates → blocks → stylesheets/scripts → images) as an SVG.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Outcome;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn bar_row(out: &mut String, label: &str, before: u64, after: u64, max: u64) {
    let w = |v: u64| if max == 0 { 0.0 } else { v as f64 * 100.0 / max as f64 };
    let _ = write!(
        out,
        "<tr><td class=l>{}</td><td class=b><div class=before style=\"width:{:.2}%\"></div><div class=after style=\"width:{:.2}%\"></div></td><td class=n>{} → {}</td></tr>",
        esc(label),
        w(before),
        w(after),
        human(before),
        human(after)
    );
}

/// The asset graph as columns: templates, blocks, assets that reference others, leaves.
fn graph_svg(edges: &[(String, String)]) -> String {
    let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
    for (from, to) in edges {
        let l = if from.ends_with(".html") {
            0
        } else if from.contains(':') {
            1
        } else {
            2
        };
        let e = layer.entry(from.as_str()).or_insert(l);
        *e = (*e).min(l);
        layer.entry(to.as_str()).or_insert(3);
    }
    for (from, _) in edges {
        if layer.get(from.as_str()) == Some(&3) {
            layer.insert(from.as_str(), 2);
        }
    }
    let mut columns: Vec<Vec<&str>> = vec![Vec::new(); 4];
    for (node, l) in &layer {
        columns[*l].push(node);
    }
    let (col_w, row_h) = (300.0, 22.0);
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let (w, h) = (col_w * 4.0 + 20.0, row_h * rows as f64 + 40.0);
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (c, nodes) in columns.iter().enumerate() {
        for (r, n) in nodes.iter().enumerate() {
            pos.insert(n, (10.0 + c as f64 * col_w, 30.0 + r as f64 * row_h));
        }
    }
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=img aria-label=\"asset graph\">"
    );
    for (i, title) in ["templates", "blocks", "stylesheets & scripts", "assets"].iter().enumerate() {
        let _ = write!(s, "<text x=\"{}\" y=\"16\" class=h>{title}</text>", 10.0 + i as f64 * col_w);
    }
    for (from, to) in edges {
        if let (Some(a), Some(b)) = (pos.get(from.as_str()), pos.get(to.as_str())) {
            let _ = write!(s, "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>", a.0 + col_w - 30.0, a.1 - 4.0, b.0, b.1 - 4.0);
        }
    }
    for (n, (x, y)) in &pos {
        let label: String = if n.chars().count() > 40 { format!("{}…", n.chars().take(39).collect::<String>()) } else { n.to_string() };
        let _ = write!(s, "<text x=\"{x:.1}\" y=\"{y:.1}\"><title>{}</title>{}</text>", esc(n), esc(&label));
    }
    s.push_str("</svg>");
    s
}

pub fn html(o: &Outcome) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>kiln build report</title><style>\
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%;max-width:1100px}\
td{padding:2px 6px;vertical-align:middle}td.l{white-space:nowrap;font-family:ui-monospace,monospace;max-width:420px;overflow:hidden;text-overflow:ellipsis}\
td.b{width:50%;position:relative}td.n{white-space:nowrap;text-align:right;color:#555}\
.before,.after{height:8px;border-radius:2px}.before{background:#d9d9d9}.after{background:#2a7ab8;margin-top:2px}\
svg line{stroke:#9bb7d4;stroke-width:1}svg text{font:11px ui-monospace,monospace;fill:#222}svg text.h{font-weight:700}\
.legend span{display:inline-block;width:12px;height:8px;margin:0 4px 0 12px}</style></head><body>",
    );
    let total_in: u64 = o.kinds.values().map(|k| k.bytes_in).sum();
    let total_out: u64 = o.kinds.values().map(|k| k.bytes_out).sum();
    let _ = write!(
        s,
        "<h1>kiln build report</h1><p>{} files in, {} files out; {} → {}.</p><p class=legend><span class=before></span>before<span class=after></span>after</p>",
        o.files_in,
        o.files_out,
        human(total_in),
        human(total_out)
    );
    s.push_str("<h2>By kind</h2><table>");
    let max = o.kinds.values().map(|k| k.bytes_in.max(k.bytes_out)).max().unwrap_or(0);
    for (kind, k) in &o.kinds {
        bar_row(&mut s, &format!("{kind} ({} files)", k.files), k.bytes_in, k.bytes_out, max);
    }
    s.push_str("</table><h2>Biggest outputs</h2><table>");
    let mut files = o.files.clone();
    files.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let max = files.iter().map(|f| f.1.max(f.2)).max().unwrap_or(0);
    for (dest, before, after) in files.iter().take(25) {
        bar_row(&mut s, dest, *before, *after, max);
    }
    s.push_str("</table><h2>Stages</h2><table>");
    let max_t = o.stages.iter().map(|(_, t)| (*t * 1e6) as u64).max().unwrap_or(0);
    for (name, t) in &o.stages {
        let us = (*t * 1e6) as u64;
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td class=b><div class=after style=\"width:{:.2}%\"></div></td><td class=n>{:.1} ms</td></tr>",
            esc(name),
            if max_t == 0 { 0.0 } else { us as f64 * 100.0 / max_t as f64 },
            t * 1000.0
        );
    }
    s.push_str("</table><h2>Asset graph</h2>");
    s.push_str(&graph_svg(&o.edges));
    s.push_str("<h2>Every file</h2><details><summary>all outputs</summary><table>");
    let mut all = o.files.clone();
    all.sort();
    let max = all.iter().map(|f| f.1.max(f.2)).max().unwrap_or(0);
    for (dest, before, after) in &all {
        bar_row(&mut s, dest, *before, *after, max);
    }
    s.push_str("</table></details></body></html>\n");
    s
}
