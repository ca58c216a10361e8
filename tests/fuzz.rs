//! The fuzz targets under a fixed budget of cases (deterministic: one seed, the checked-in
//! corpora), as CI runs them; any crash or broken property fails with its reproducer's path.
//! And minify → render equals render with real Tornado and Django, over fuzz-generated
//! templates that minify cleanly.

mod common;

use std::process::Command;

use common::*;
use kiln::fuzz::runner::{self, Budget, Options, Rng};

/// Cases per target: the minifiers and the params parsers cost ~1–4 ms a case, the rest far less.
fn budget(target: &str) -> u64 {
    match target {
        "minify_js" | "minify_css" | "minify_html" => 400,
        "params" => 600,
        _ => 4000,
    }
}

fn fuzz(target: &str) {
    let t = kiln::fuzz::target(target).unwrap_or_else(|| panic!("no fuzz target {target}"));
    let out = repo().join("target/fuzz-findings/ci");
    let mut opts = Options::new(Budget::Cases(budget(target)), out);
    // The corpus (its seed lists read the examples and fixtures in place; their optional npm
    // entries are left out, so every machine runs the same cases) and every regression.
    opts.seeds = vec![repo().join("fuzz/corpus").join(target), repo().join("fuzz/regressions").join(target)];
    let report = runner::run(&t, &opts);
    eprintln!("{}", report.summary());
    assert!(report.missing_seeds.is_empty(), "{target}: seed lists name missing paths: {:?}", report.missing_seeds);
    assert!(report.seeds > 0, "no seeds in fuzz/corpus/{target}");
    assert!(report.new_coverage > 0, "{target}: no mutant reached a new outcome: the target or its signature is broken");
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} ({}×): {}\n  reproducer: {}", f.kind.name(), f.count, f.message, f.reproducer.display()))
        .collect();
    assert!(found.is_empty(), "{target}: the fuzzer found\n{}", found.join("\n"));
}

macro_rules! targets {
    ($($name:ident),*) => {
        $(#[test]
        fn $name() {
            fuzz(stringify!($name));
        })*

        #[test]
        fn every_target_runs_in_ci() {
            let listed = [$(stringify!($name)),*];
            for t in kiln::fuzz::targets() {
                assert!(listed.contains(&t.name), "tests/fuzz.rs does not run the target {}", t.name);
            }
        }
    };
}

targets!(template, css_refs, minify_js, minify_css, minify_html, params, dotenv, manifest, image, pyproject, serve_path);

/// A random well-formed template (balanced elements and blocks) in Tornado's or Django's
/// spelling: byte mutants are mostly malformed HTML, which browsers and minify-html repair
/// differently (see bench/RESULTS.md), so the render comparison fuzzes structure instead.
fn random_template(rng: &mut Rng, depth: usize, django: bool, out: &mut String) {
    let end = |kind: &str| if django { format!("{{% end{kind} %}}") } else { "{% end %}".to_string() };
    let n = 1 + rng.below(4);
    for _ in 0..n {
        match rng.below(if depth > 3 { 4 } else { 12 }) {
            0 => out.push_str(["Hello", " ", "\n  ", "a  b", "&amp; c", "x", "\t"][rng.below(7)]),
            1 => out.push_str(["{{ name }}", "{{ x }}", "{{ n }}", " {{ name }} "][rng.below(4)]),
            2 => out.push_str(["<br>", "<!-- c -->", "{# note #}", "<img src=\"{{ u }}\" alt=\"\">"][rng.below(4)]),
            3 => out.push_str(if django {
                "<input type=\"checkbox\" {% if flag %}checked{% endif %}>"
            } else {
                "<input type=\"checkbox\" {% if flag %}checked{% end %}>"
            }),
            4..=7 => {
                let tag = ["div", "p", "span", "b", "i", "em", "ul", "li", "a", "section", "pre", "textarea"][rng.below(12)];
                let attrs = ["", " class=\"a  b\"", " title='{{ name }}'", " href=\"{{ u }}\"", " id=\"k\" data-x=\"1\""][rng.below(5)];
                out.push_str(&format!("<{tag}{attrs}>"));
                if tag == "textarea" {
                    out.push_str("\n {{ name }}  text\n");
                } else {
                    random_template(rng, depth + 1, django, out);
                }
                out.push_str(&format!("</{tag}>"));
            }
            8 => {
                out.push_str("{% if flag %}");
                random_template(rng, depth + 1, django, out);
                out.push_str("{% else %}");
                random_template(rng, depth + 1, django, out);
                out.push_str(&end("if"));
            }
            9 => {
                out.push_str("{% for i in items %}<li>{{ i }}</li>");
                random_template(rng, depth + 1, django, out);
                out.push_str(&end("for"));
            }
            10 => out.push_str(
                [
                    "<script>\n  var n = {{ n }};\n</script>",
                    "<script>\n  function f(a) { return a + 1; }\n</script>",
                    "<style>\n  p { color : red }\n</style>",
                ][rng.below(3)],
            ),
            _ => out.push('\n'),
        }
    }
}

#[test]
fn minified_fuzz_templates_render_the_same_with_tornado_and_django() {
    let Some(python) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (orig, min) = (tmp.path().join("orig"), tmp.path().join("min"));
    std::fs::create_dir_all(&orig).unwrap();
    std::fs::create_dir_all(&min).unwrap();
    let mut rng = Rng::new(24);
    for i in 0..240 {
        let mut src = String::new();
        random_template(&mut rng, 0, i % 2 == 1, &mut src);
        let out = kiln::minify::minify_source(kiln::minify::Kind::Html, src.as_bytes(), "t.html", &Default::default())
            .unwrap_or_else(|e| panic!("a generated template does not minify: {e}\n{src}"));
        let name = format!("{i:04}.html");
        std::fs::write(orig.join(&name), &src).unwrap();
        std::fs::write(min.join(&name), out).unwrap();
    }
    let o =
        run(Command::new(&python).arg(repo().join("tests/tools/fuzz_render_compare.py")).arg(&orig).arg(&min).env("PYTHONDONTWRITEBYTECODE", "1"));
    let report = String::from_utf8_lossy(&o.stdout);
    let keep = repo().join("target/fuzz-findings/render");
    if !o.status.success() {
        let _ = std::fs::remove_dir_all(&keep);
        let _ = std::fs::create_dir_all(&keep);
        let _ = Command::new("cp").arg("-r").arg(&orig).arg(&min).arg(&keep).status();
    }
    assert!(o.status.success(), "minified templates render differently (pairs kept in {}):\n{report}{}", keep.display(), stderr(&o));
    for engine in ["tornado", "django"] {
        let compared: usize = report.lines().find_map(|l| l.strip_prefix(&format!("{engine}: "))?.split(' ').next()?.parse().ok()).unwrap_or(0);
        assert!(compared >= 100, "{engine} compared only {compared} templates:\n{report}");
    }
}
