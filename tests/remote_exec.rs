//! Remote execution on a real Remote Execution API cluster: tests/remote/cluster starts BuildGrid
//! (CAS on disk, Redis action cache, PostgreSQL scheduler) and workers from tests/remote/worker.py
//! on 127.0.0.1; Bazel (Debian's bazel-bootstrap) builds with the root .bazelrc's remote configs.
//! The tests read Bazel's process summary and execution log, never just its exit code: Bazel
//! still succeeds when the remote side quietly falls back or misses.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn cluster_script() -> PathBuf {
    repo().join("tests/remote/cluster")
}

/// Everything the cluster needs: fails under CI=true when missing, skips elsewhere.
fn cluster_tools() -> bool {
    // pg_ctlcluster comes with Debian's postgresql (whose server binaries are off PATH).
    require("bazel") && require("redis-server") && require("pg_ctlcluster") && require("setpriv")
}

/// A temporary directory the cluster's unprivileged user can traverse (tempfile makes it 0700).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A running cluster; stopped (by the PIDs it started) when dropped, even when a test fails.
struct Cluster {
    state: PathBuf,
    executor: String,
    cache: String,
}

/// A gRPC port for one test's cluster, never the same twice in this process: tests run in parallel,
/// and two clusters that both took `up`'s default (50051 when free) would race for it.
fn grpc_port() -> u16 {
    static TAKEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut taken = TAKEN.lock().unwrap();
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if taken.insert(port) {
            return port;
        }
    }
}

impl Cluster {
    fn up(state: &Path) -> Cluster {
        let started = Instant::now();
        let o = run(Command::new(cluster_script()).arg("up").arg(state).env("KILN_REMOTE_GRPC_PORT", grpc_port().to_string()));
        assert!(o.status.success(), "cluster up failed:\n{}", stderr(&o));
        eprintln!("cluster up: {:.1} s\n{}", started.elapsed().as_secs_f64(), stderr(&o));
        let (executor, cache) = parse_endpoints(&String::from_utf8_lossy(&o.stdout));
        Cluster { state: state.to_path_buf(), executor, cache }
    }

    /// PIDs from run/*.pid (the processes `up` started).
    fn pids(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(self.state.join("run")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(name) = name.strip_suffix(".pid") {
                let text = fs::read_to_string(&path).unwrap();
                out.insert(name.to_string(), text.split_whitespace().next().unwrap().parse().unwrap());
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failed test: what the services said, before down (the temp dir goes with the test).
        if std::thread::panicking() {
            if let Ok(logs) = fs::read_dir(self.state.join("log")) {
                let mut logs: Vec<PathBuf> = logs.map(|e| e.unwrap().path()).collect();
                logs.sort();
                for log in logs {
                    let text = fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    eprintln!("--- {} (last {} lines)\n{}", log.display(), tail.len(), tail.join("\n"));
                }
            }
        }
        let o = run(Command::new(cluster_script()).arg("down").arg(&self.state));
        if !o.status.success() {
            eprintln!("cluster down failed:\n{}", stderr(&o));
        }
    }
}

fn parse_endpoints(stdout: &str) -> (String, String) {
    let get = |key: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} line in cluster output:\n{stdout}")).to_string()
    };
    let (executor, cache) = (get("REMOTE_EXECUTOR="), get("REMOTE_CACHE="));
    for url in [&executor, &cache] {
        assert!(url.starts_with("grpc://127.0.0.1:"), "not a loopback gRPC address: {url}");
    }
    (executor, cache)
}

/// A process that is gone (or a zombie nobody reaped: finished all the same).
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
            state != Some('Z')
        }
        Err(_) => false,
    }
}

// --- the scratch workspace --------------------------------------------------------------------

const SCRATCH_DEFS: &str = r#"
def _tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run(
        executable = ctx.executable.tool,
        arguments = [out.path] + [f.path for f in ctx.files.srcs],
        inputs = ctx.files.srcs,
        outputs = [out],
        mnemonic = "ScratchTree",
    )
    return [DefaultInfo(files = depset([out]))]

scratch_tree = rule(
    implementation = _tree_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = True),
        "tool": attr.label(executable = True, cfg = "exec", allow_single_file = True),
    },
)

# No PATH and one variable: the worker must hand the command exactly this environment.
def _env_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.run(
        executable = "/bin/sh",
        arguments = ["-c", 'exec /usr/bin/env > "$1"', "sh", out.path],
        outputs = [out],
        env = {"KILN_SCRATCH": "1"},
        mnemonic = "ScratchEnv",
    )
    return [DefaultInfo(files = depset([out]))]

scratch_env = rule(implementation = _env_impl)
"#;

const SCRATCH_BUILD: &str = r#"
load(":defs.bzl", "scratch_env", "scratch_tree")

# A shell tool declared as an input.
genrule(
    name = "upper",
    srcs = ["words.txt"],
    outs = ["upper.txt"],
    tools = ["tools/upper.sh"],
    cmd = "$(location tools/upper.sh) $< $@",
)

# A directory output (REAPI Tree), then an action that takes it as input.
scratch_tree(
    name = "tree",
    srcs = ["words.txt", ":upper", "empty.txt"],
    tool = "tools/tree.sh",
)

genrule(
    name = "listing",
    srcs = [":tree"],
    outs = ["listing.txt"],
    cmd = "(cd $(location :tree) && find . -type f | LC_ALL=C sort | while read -r f; do echo \"$$(sha256sum < $$f | cut -c1-16) $$f\"; done) > $@",
)

scratch_env(name = "env")

# The worker hides the host's Python: an action cannot lean on it by accident.
genrule(
    name = "bare",
    outs = ["bare.txt"],
    cmd = "if python3 -c pass 2>/dev/null; then echo python3 runs; else echo no python3; fi > $@",
)

# A kiln binary that travels to the worker as a declared input.
genrule(
    name = "manifest",
    srcs = ["a.json", "b.json"],
    outs = ["manifest.json"],
    tools = ["tools/kiln-manifest-merge"],
    cmd = "$(location tools/kiln-manifest-merge) -o $@ $(SRCS)",
)
"#;

const UPPER_SH: &str = "#!/bin/sh\nset -eu\ntr a-z A-Z < \"$1\" > \"$2\"\n";
const TREE_SH: &str = "#!/bin/sh\nset -eu\nout=$1\nmkdir -p \"$out/sub/empty-dir\"\ncp \"$2\" \"$out/words.txt\"\ncp \"$3\" \"$out/sub/upper.txt\"\ncp \"$4\" \"$out/empty.txt\"\nprintf 'nested\\n' > \"$out/sub/deeper.txt\"\n";
const PARTIAL_A: &str = r#"{"version":1,"assets":{"css/a.css":{"version":"0123456789abcdef0123456789abcdef","versioned_path":"css/a.0123456789ab.css","integrity":"sha384-a"}}}
"#;
const PARTIAL_B: &str = r#"{"version":1,"assets":{"js/b.js":{"version":"fedcba9876543210fedcba9876543210","versioned_path":"js/b.fedcba987654.js","integrity":"sha384-b"}}}
"#;
const SCRATCH_MNEMONICS: [&str; 3] = ["Genrule", "ScratchTree", "ScratchEnv"];
const SCRATCH_OUTPUTS: [&str; 5] = ["upper.txt", "listing.txt", "env.txt", "manifest.json", "bare.txt"];

fn write_exec(path: &Path, bytes: impl AsRef<[u8]>) {
    write(path, bytes);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The root .bazelrc's `remote` and `grpc_cache` configs.
fn remote_configs() -> String {
    let rc = fs::read_to_string(repo().join(".bazelrc")).unwrap();
    let lines: Vec<&str> = rc.lines().filter(|l| l.starts_with("build:remote ") || l.starts_with("build:grpc_cache ")).collect();
    assert!(lines.len() >= 4, "the root .bazelrc lacks build:remote / build:grpc_cache:\n{rc}");
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The scratch workspace: its .bazelrc has the root .bazelrc's remote configs and base settings.
fn make_scratch(ws: &Path, words: &str) {
    write(&ws.join("WORKSPACE"), "workspace(name = \"scratch\")\n");
    let mut rc = remote_configs();
    rc.push_str("\n# As in the root .bazelrc: actions see a fixed PATH, and nothing is downloaded.\n");
    rc.push_str("build --incompatible_strict_action_env\ncommon --experimental_repository_disable_download\n");
    write(&ws.join(".bazelrc"), rc);
    write(&ws.join("defs.bzl"), SCRATCH_DEFS);
    write(&ws.join("BUILD"), SCRATCH_BUILD);
    write(&ws.join("words.txt"), words);
    write(&ws.join("empty.txt"), "");
    write(&ws.join("a.json"), PARTIAL_A);
    write(&ws.join("b.json"), PARTIAL_B);
    write_exec(&ws.join("tools/upper.sh"), UPPER_SH);
    write_exec(&ws.join("tools/tree.sh"), TREE_SH);
    write_exec(&ws.join("tools/kiln-manifest-merge"), fs::read(bin("kiln-manifest-merge")).unwrap());
}

/// Copies a workspace's sources (not its bazel-* convenience links) to another path.
fn copy_workspace(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("bazel-") {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

// --- Bazel -------------------------------------------------------------------------------------

struct Bazel {
    ws: PathBuf,
    output_root: PathBuf,
    python: Option<PathBuf>,
}

impl Bazel {
    /// A Bazel with its own (fresh) output root. The user's rc file is left out; the system one
    /// stays: Debian's bazel finds its install base through /etc/bazel.bazelrc.
    fn new(ws: &Path, output_root: &Path) -> Bazel {
        Bazel { ws: ws.to_path_buf(), output_root: output_root.to_path_buf(), python: None }
    }

    /// The kiln toolchain's interpreter (KILN_PYTHON of its repository rule).
    fn with_python(mut self, python: &Path) -> Bazel {
        self.python = Some(python.to_path_buf());
        self
    }

    fn cmd(&self, verb: &str) -> Command {
        let mut c = Command::new("bazel");
        c.current_dir(&self.ws)
            .arg(format!("--output_user_root={}", self.output_root.display()))
            .args(["--nohome_rc", "--max_idle_secs=120", verb])
            // The kiln toolchain repository takes this checkout's binaries (as tests/bazel.rs).
            .env("KILN_BIN_DIR", bin("kiln-hash").parent().unwrap())
            .env_remove("KILN_PYTHON")
            .env_remove("USE_BAZEL_VERSION");
        if let Some(python) = &self.python {
            c.env("KILN_PYTHON", python);
        }
        if verb == "build" {
            // --verbose_failures: a remote failure shows its gRPC status, not only "Error while
            // uploading artifact" (how RESOURCE_EXHAUSTED from BuildGrid once looked).
            c.args(["--color=no", "--curses=no", "--verbose_failures"]);
        }
        c
    }

    fn build(&self, args: &[String], exec_log: &Path) -> Output {
        let started = Instant::now();
        let o = run(self.cmd("build").args(args).arg(format!("--execution_log_json_file={}", exec_log.display())));
        eprintln!("bazel build {}: {:.1} s", args.join(" "), started.elapsed().as_secs_f64());
        assert!(o.status.success(), "bazel build {args:?} failed:\n{}", stderr(&o));
        o
    }

    fn shutdown(&self) {
        run(&mut self.cmd("shutdown"));
    }
}

impl Drop for Bazel {
    fn drop(&mut self) {
        self.shutdown();
        // Bazel leaves its output base read-only: let the temp dir's removal through.
        if self.output_root.exists() {
            run(Command::new("chmod").arg("-R").arg("u+w").arg(&self.output_root));
        }
    }
}

/// `INFO: 6 processes: 1 internal, 5 remote.` → {"internal": 1, "remote": 5}.
fn process_summary(o: &Output) -> BTreeMap<String, u64> {
    let err = stderr(o);
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.split_once(" processes: ").map(|(_, rest)| rest.to_string()))
        .unwrap_or_else(|| panic!("no process summary in Bazel's output:\n{err}"));
    let mut out = BTreeMap::new();
    for part in line.trim_end_matches('.').split(", ") {
        let (n, kind) = part.split_once(' ').unwrap_or_else(|| panic!("odd summary part {part:?} in {line:?}"));
        out.insert(kind.to_string(), n.parse().unwrap());
    }
    out
}

/// (mnemonic, runner) of every spawn in a JSON execution log (a stream of JSON objects).
fn spawns(exec_log: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(exec_log).unwrap();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(|v| {
            let v = v.unwrap();
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (field("mnemonic"), field("runner"))
        })
        .collect()
}

/// Every spawn of the given mnemonics ran with `runner`, and there were `count` of them.
fn assert_runners(exec_log: &Path, mnemonics: &[&str], runner: &str, count: usize) {
    let all = spawns(exec_log);
    let ours: Vec<_> = all.iter().filter(|(m, _)| mnemonics.contains(&m.as_str())).collect();
    assert_eq!(ours.len(), count, "expected {count} spawns of {mnemonics:?}, the log has {all:?}");
    for (m, r) in ours {
        assert_eq!(r, runner, "a {m} spawn ran as {r:?}, not {runner:?}; log: {all:?}");
    }
}

fn outputs(ws: &Path) -> BTreeMap<String, Vec<u8>> {
    SCRATCH_OUTPUTS.iter().map(|f| (f.to_string(), fs::read(ws.join("bazel-bin").join(f)).unwrap())).collect()
}

/// The scratch workspace built on the cluster from a fresh output base (every action remote, the
/// worker's environment exactly the action's), then, after `clean --expunge`, from a copy at
/// another path: every action a remote cache hit. Also: the grpc_cache config shares results
/// built locally, `up` and `down` are idempotent, and `down` leaves none of its processes.
#[test]
fn scratch_workspace_runs_remotely_then_hits_the_cache() {
    if !cluster_tools() {
        return;
    }
    let tmp = open_tempdir();
    let t = tmp.path();
    let cluster = Cluster::up(&t.join("state"));
    let executor = format!("--remote_executor={}", cluster.executor);
    let cache = format!("--remote_cache={}", cluster.cache);

    // 1. Fresh output base: everything runs on the workers.
    let ws_a = t.join("a/ws");
    make_scratch(&ws_a, "alpha\nbeta\n");
    let first = {
        let bazel = Bazel::new(&ws_a, &t.join("a/out"));
        let o = bazel.build(&["--config=remote".into(), executor.clone(), "//...".into()], &t.join("a.log"));
        let summary = process_summary(&o);
        assert_eq!(summary.get("remote"), Some(&6), "summary {summary:?}");
        assert!(summary.keys().all(|k| k == "remote" || k == "internal"), "non-remote processes: {summary:?}");
        assert_runners(&t.join("a.log"), &SCRATCH_MNEMONICS, "remote", 6);
        let out = outputs(&ws_a);
        let clean = run(bazel.cmd("clean").arg("--expunge"));
        assert!(clean.status.success(), "bazel clean --expunge failed:\n{}", stderr(&clean));
        out
    };

    // What the worker produced.
    assert_eq!(first["upper.txt"], b"ALPHA\nBETA\n");
    assert_eq!(first["bare.txt"], b"no python3\n", "the worker's actions can run the host's Python");
    let listing = String::from_utf8(first["listing.txt"].clone()).unwrap();
    let listed: Vec<&str> = listing.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(listed, ["./empty.txt", "./sub/deeper.txt", "./sub/upper.txt", "./words.txt"], "tree listing:\n{listing}");
    let env = String::from_utf8(first["env.txt"].clone()).unwrap();
    let names: BTreeSet<&str> = env.lines().map(|l| l.split_once('=').unwrap().0).collect();
    // sh itself exports PWD; nothing else may appear (no PATH, HOME, TZ, LANG, USER from the worker).
    assert_eq!(names, BTreeSet::from(["KILN_SCRATCH", "PWD"]), "action environment:\n{env}");
    let pwd = env.lines().find_map(|l| l.strip_prefix("PWD=")).unwrap();
    assert!(Path::new(pwd).starts_with(&cluster.state), "the action ran in {pwd}, not in a worker's build directory under {:?}", cluster.state);
    // The kiln binary ran on the worker exactly as it runs here.
    let local = t.join("local-manifest.json");
    let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&local).arg(ws_a.join("a.json")).arg(ws_a.join("b.json")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(first["manifest.json"], fs::read(&local).unwrap(), "remote and local kiln-manifest-merge differ");

    // `up` again: nothing restarts, the same endpoints.
    let pids = cluster.pids();
    let again = run(Command::new(cluster_script()).arg("up").arg(&cluster.state));
    assert!(again.status.success(), "second up failed:\n{}", stderr(&again));
    assert_eq!(parse_endpoints(&String::from_utf8_lossy(&again.stdout)), (cluster.executor.clone(), cluster.cache.clone()));
    assert_eq!(cluster.pids(), pids, "a second up restarted processes");

    // 2. The same build from a copy at another path, fresh output base: all remote cache hits.
    let ws_b = t.join("b/elsewhere/ws");
    copy_workspace(&ws_a, &ws_b);
    {
        let bazel = Bazel::new(&ws_b, &t.join("b/out"));
        let o = bazel.build(&["--config=remote".into(), executor.clone(), "//...".into()], &t.join("b.log"));
        let summary = process_summary(&o);
        assert_eq!(summary.get("remote cache hit"), Some(&6), "summary {summary:?}");
        assert!(summary.keys().all(|k| k == "remote cache hit" || k == "internal"), "summary {summary:?}");
        assert_runners(&t.join("b.log"), &SCRATCH_MNEMONICS, "remote cache hit", 6);
        let second = outputs(&ws_b);
        for f in SCRATCH_OUTPUTS.iter().filter(|f| **f != "env.txt") {
            assert!(first[*f] == second[*f], "{f} differs between the build and its cache hit");
        }
    }

    // 3. Cache only: a changed input is built here and uploaded; a remote build of the same
    //    sources from yet another path then finds every action in the cache.
    let ws_c = t.join("c/ws");
    copy_workspace(&ws_a, &ws_c);
    write(&ws_c.join("words.txt"), "gamma\n");
    {
        let bazel = Bazel::new(&ws_c, &t.join("c/out"));
        let o = bazel.build(&["--config=grpc_cache".into(), cache.clone(), "//...".into()], &t.join("c.log"));
        let summary = process_summary(&o);
        // upper, tree and listing changed and ran here; env, bare and manifest came from the cache.
        assert_eq!(summary.get("remote cache hit"), Some(&3), "summary {summary:?}");
        assert!(!summary.contains_key("remote"), "cache-only build executed remotely: {summary:?}");
        assert_eq!(fs::read(ws_c.join("bazel-bin/upper.txt")).unwrap(), b"GAMMA\n");
    }
    let ws_d = t.join("d/ws");
    copy_workspace(&ws_c, &ws_d);
    {
        let bazel = Bazel::new(&ws_d, &t.join("d/out"));
        bazel.build(&["--config=remote".into(), executor.clone(), "//...".into()], &t.join("d.log"));
        assert_runners(&t.join("d.log"), &SCRATCH_MNEMONICS, "remote cache hit", 6);
    }

    // 4. `down` stops exactly what `up` started, and a second `down` is a no-op.
    let pids = cluster.pids();
    assert_eq!(pids.len(), 5, "expected postgres, redis, buildgrid and two workers: {pids:?}");
    drop(cluster);
    for (name, pid) in &pids {
        assert!(!running(*pid), "{name} (pid {pid}) still runs after down");
    }
    let o = run(Command::new(cluster_script()).arg("down").arg(t.join("state")));
    assert!(o.status.success(), "second down failed:\n{}", stderr(&o));
}

/// An `up` that cannot finish (BuildGrid's port is taken) fails and leaves nothing running.
#[test]
fn failed_up_leaves_nothing_running() {
    if !cluster_tools() {
        return;
    }
    let tmp = open_tempdir();
    let state = tmp.path().join("state");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let o = run(Command::new(cluster_script()).arg("up").arg(&state).env("KILN_REMOTE_GRPC_PORT", port.to_string()));
    assert_eq!(o.status.code(), Some(1), "up with a taken port: {}", stderr(&o));
    assert!(stderr(&o).contains("up failed: buildgrid exited"), "{}", stderr(&o));
    let left: Vec<_> = fs::read_dir(state.join("run")).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.iter().all(|p| p.extension().is_none_or(|e| e != "pid")), "pid files left: {left:?}");
    // Nothing of this state directory still runs (its paths are on every command line).
    let state_s = state.to_string_lossy().into_owned();
    for entry in fs::read_dir("/proc").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else { continue };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&state_s) && running(pid) {
            panic!("pid {pid} still runs: {}", String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    drop(taken);
}

// --- //:dist ------------------------------------------------------------------------------------

/// The interpreter the toolchain repository would pick (python3 on PATH, as its real executable).
/// Both Bazel (KILN_PYTHON) and `kiln build` (--python) are given it: bytecode depends on it.
fn toolchain_python() -> PathBuf {
    let o = run(Command::new("python3").args(["-S", "-E", "-c", "import os, sys; print(os.path.realpath(sys.executable))"]));
    assert!(o.status.success(), "python3 does not run: {}", stderr(&o));
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

/// A dist's files (relative path → bytes). Modes are left out: Bazel's outputs are all r-x.
fn dist_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir).into_iter().filter(|(_, (mode, _))| *mode != 0).map(|(k, (_, b))| (k, b)).collect()
}

fn assert_same_dist(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: file lists differ");
    for (k, v) in a {
        assert!(v == &b[k], "{what}: bytes of {k} differ");
    }
}

/// Every Kiln* spawn of an execution log: (mnemonic, runner).
fn kiln_spawns(exec_log: &Path) -> Vec<(String, String)> {
    spawns(exec_log).into_iter().filter(|(m, _)| m.starts_with("Kiln")).collect()
}

/// The input paths of the one spawn of `mnemonic` in an execution log.
fn spawn_inputs(exec_log: &Path, mnemonic: &str) -> Vec<String> {
    let text = fs::read_to_string(exec_log).unwrap();
    let found: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap())
        .filter(|v| v["mnemonic"] == mnemonic)
        .collect();
    assert_eq!(found.len(), 1, "expected one {mnemonic} spawn in {exec_log:?}");
    found[0]["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap_or_default().to_string()).collect()
}

/// What the //:dist tests share: the toolchain's interpreter, a temp dir, a cluster under it and
/// the arguments of a remote `bazel build //:dist`. None when a tool is missing (off CI).
struct DistOnCluster {
    python: PathBuf,
    tmp: tempfile::TempDir,
    cluster: Cluster,
    remote: Vec<String>,
}

fn dist_on_cluster() -> Option<DistOnCluster> {
    if !cluster_tools() || !require("python3") {
        return None;
    }
    let python = toolchain_python();
    let tmp = open_tempdir();
    let cluster = Cluster::up(&tmp.path().join("state"));
    let executor = format!("--remote_executor={}", cluster.executor);
    let remote = vec!["--config=offline".into(), "--config=remote".into(), executor, "//:dist".into()];
    Some(DistOnCluster { python, tmp, cluster, remote })
}

/// //:dist on the cluster from a fresh output base: every kiln action (bytecode too, with the
/// interpreter and its standard library as inputs, the host's hidden from the workers) runs
/// remotely, and the dist equals a local `bazel build //:dist` and `kiln build`, byte for byte.
/// Then, after `clean --expunge`, the same build from a copy at another path: every kiln action
/// a remote cache hit, the same dist.
#[test]
fn dist_builds_remotely_then_all_hits() {
    let Some(DistOnCluster { python, tmp, cluster, remote }) = dist_on_cluster() else { return };
    let t = tmp.path();

    // 1. Remote, from a fresh output base.
    let ws_a = make_ws(&t.join("a/kiln"));
    let (remote_dist, actions) = {
        let bazel = Bazel::new(&ws_a, &t.join("a/out")).with_python(&python);
        let o = bazel.build(&remote, &t.join("a.log"));
        let summary = process_summary(&o);
        assert!(summary.keys().all(|k| k == "remote" || k == "internal"), "non-remote processes: {summary:?}");
        let kiln = kiln_spawns(&t.join("a.log"));
        let mnemonics: BTreeSet<&str> = kiln.iter().map(|(m, _)| m.as_str()).collect();
        for m in ["KilnMinify", "KilnHash", "KilnBlock", "KilnManifest", "KilnPyc", "KilnDist"] {
            assert!(mnemonics.contains(m), "no {m} spawn in the execution log: {kiln:?}");
        }
        assert!(kiln.iter().all(|(_, r)| r == "remote"), "kiln spawns not all remote: {kiln:?}");
        assert_eq!(summary.get("remote").copied(), Some(kiln.len() as u64), "remote processes that are not kiln's: {summary:?}");
        // The bytecode action brought its interpreter and standard library (the workers hide the
        // host's, see tests/remote/cluster.py's hidden_tools).
        let inputs = spawn_inputs(&t.join("a.log"), "KilnPyc");
        for wanted in ["/python/bin/python3", "/python/lib/python3.", "/encodings/__init__.py", "/json/__init__.py"] {
            assert!(inputs.iter().any(|i| i.contains("kiln_toolchain/") && i.contains(wanted)), "KilnPyc has no input *{wanted}*: {inputs:?}");
        }
        let err = stderr(&o);
        assert!(!err.contains("Could not find platform"), "the remote interpreter missed its standard library:\n{err}");
        let dist = dist_bytes(&ws_a.join(DIST));
        let clean = run(bazel.cmd("clean").arg("--expunge"));
        assert!(clean.status.success(), "bazel clean --expunge failed:\n{}", stderr(&clean));
        (dist, kiln.len())
    };
    assert!(remote_dist.keys().any(|k| k.ends_with(".pyc")), "no bytecode in the dist: {:?}", remote_dist.keys());

    // 2. The same workspace built locally (sandboxed), fresh output base: the same bytes.
    {
        let bazel = Bazel::new(&ws_a, &t.join("a/local-out")).with_python(&python);
        let o = bazel.build(&["--config=offline".into(), "//:dist".into()], &t.join("local.log"));
        let summary = process_summary(&o);
        assert!(!summary.keys().any(|k| k.starts_with("remote")), "the local build used the cluster: {summary:?}");
        assert_same_dist(&remote_dist, &dist_bytes(&ws_a.join(DIST)), "remote vs local `bazel build //:dist`");
    }

    // 3. `kiln build` with the toolchain's interpreter: the same bytes.
    let kiln_dist = t.join("kiln-dist");
    let o = run(Command::new(bin("kiln")).arg("build").arg(shop()).arg("-o").arg(&kiln_dist).arg("--python").arg(&python));
    assert!(o.status.success(), "kiln build examples/shop failed:\n{}", stderr(&o));
    assert_same_dist(&remote_dist, &dist_bytes(&kiln_dist), "remote `bazel build //:dist` vs `kiln build`");

    // 4. From a copy at another path, fresh output base: every kiln action a remote cache hit.
    let ws_b = make_ws(&t.join("b/elsewhere/kiln"));
    let bazel = Bazel::new(&ws_b, &t.join("b/out")).with_python(&python);
    let o = bazel.build(&remote, &t.join("b.log"));
    let summary = process_summary(&o);
    assert!(summary.keys().all(|k| k == "remote cache hit" || k == "internal"), "summary {summary:?}");
    let kiln = kiln_spawns(&t.join("b.log"));
    assert_eq!(kiln.len(), actions, "the second build ran a different set of kiln actions: {kiln:?}");
    assert!(kiln.iter().all(|(_, r)| r == "remote cache hit"), "not all cache hits: {kiln:?}");
    assert_same_dist(&remote_dist, &dist_bytes(&ws_b.join(DIST)), "the dist from the remote cache");
    drop(bazel);
    drop(cluster);
}

// --- faults ---------------------------------------------------------------------------------------

/// `cluster VERB STATE_DIR [ARGS]`, which must succeed.
fn cluster_cmd(verb: &str, state: &Path, extra: &[&str]) -> Output {
    let started = Instant::now();
    let o = run(Command::new(cluster_script()).arg(verb).arg(state).args(extra));
    eprintln!("cluster {verb} {}: {:.1} s", extra.join(" "), started.elapsed().as_secs_f64());
    assert!(o.status.success(), "cluster {verb} {extra:?} failed:\n{}", stderr(&o));
    o
}

/// `kiln build examples/shop` with the toolchain's interpreter: the known-good dist.
fn kiln_dist(dest: &Path, python: &Path) -> BTreeMap<String, Vec<u8>> {
    let o = run(Command::new(bin("kiln")).arg("build").arg(shop()).arg("-o").arg(dest).arg("--python").arg(python));
    assert!(o.status.success(), "kiln build examples/shop failed:\n{}", stderr(&o));
    dist_bytes(dest)
}

/// A build whose result is judged by the caller (Bazel's exit code alone says little).
fn try_build(bazel: &Bazel, args: &[String], exec_log: &Path) -> Output {
    let started = Instant::now();
    let o = run(bazel.cmd("build").args(args).arg(format!("--execution_log_json_file={}", exec_log.display())));
    eprintln!("bazel build {} ({}): {:.1} s", args.join(" "), o.status, started.elapsed().as_secs_f64());
    o
}

/// Whatever a failed or faulty build left at the dist path must be the known-good bytes (no
/// corrupted or half-written file); returns how many files were there.
fn assert_nothing_wrong(dist: &Path, good: &BTreeMap<String, Vec<u8>>, what: &str) -> usize {
    let found = if dist.exists() { dist_bytes(dist) } else { BTreeMap::new() };
    for (k, v) in &found {
        assert!(good.get(k) == Some(v), "{what}: {k} in the dist is not the known-good file");
    }
    found.len()
}

fn bazel_clean(bazel: &Bazel, expunge: bool) {
    let mut c = bazel.cmd("clean");
    if expunge {
        c.arg("--expunge");
    }
    let o = run(&mut c);
    assert!(o.status.success(), "bazel clean failed:\n{}", stderr(&o));
}

/// Faults on one cluster, each followed by a build whose dist must equal `kiln build`'s:
///
/// a. a worker SIGKILLed while it holds the lease of a kiln action (the worker's fault hook pauses
///    it on the KilnManifest lease: every minify and hash action it depends on has run remotely,
///    the templates and the dist wait for it): the build fails cleanly or the lease is retried on
///    the other worker; then the worker is started again and a build that accepts no cached
///    result runs every kiln action on the workers;
/// b. BuildGrid alone restarted: after `clean --expunge`, every kiln action is a remote cache
///    hit (CAS on disk, action cache in Redis);
/// c. one output blob's bytes overwritten in BuildGrid's on-disk CAS: after `clean --expunge`,
///    Bazel refuses the blob (the build fails naming the digest mismatch) or re-executes; the
///    dist never holds a wrong byte.
#[test]
fn dist_survives_worker_kill_server_restart_and_corrupt_cas() {
    let Some(DistOnCluster { python, tmp, cluster, remote }) = dist_on_cluster() else { return };
    let t = tmp.path();
    let good = kiln_dist(&t.join("kiln-dist"), &python);
    let ws = make_ws(&t.join("ws/kiln"));
    let dist = ws.join(DIST);
    let bazel = Bazel::new(&ws, &t.join("out")).with_python(&python);

    // a. A worker killed while it holds the KilnManifest lease.
    let faults = cluster.state.join("faults");
    let armed = faults.join("pause-on");
    write(&armed, "/bin/kiln-manifest-merge");
    let (out_log, err_log) = (t.join("a.stdout"), t.join("a.stderr"));
    let mut child = bazel
        .cmd("build")
        .args(&remote)
        .arg(format!("--execution_log_json_file={}", t.join("a.log").display()))
        .stdout(fs::File::create(&out_log).unwrap())
        .stderr(fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let paused = loop {
        let found = fs::read_dir(&faults).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).find(|n| n.starts_with("paused-"));
        if let Some(name) = found {
            break name.strip_prefix("paused-").unwrap().to_string();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the build ended ({status}) before a worker leased the KilnManifest action:\n{}", fs::read_to_string(&err_log).unwrap());
        }
        assert!(started.elapsed().as_secs() < 600, "no worker leased the KilnManifest action in 600 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let victim = cluster.pids()[&paused];
    assert!(running(victim), "{paused} (pid {victim}) is not running");
    cluster_cmd("kill-worker", &cluster.state, &[&paused]);
    assert!(!running(victim), "{paused} (pid {victim}) survived kill-worker");
    fs::remove_file(faults.join(format!("paused-{paused}"))).unwrap();
    let status = child.wait().unwrap();
    eprintln!("bazel build with {paused} killed ({status}): {:.1} s", started.elapsed().as_secs_f64());
    let err = fs::read_to_string(&err_log).unwrap();
    if status.success() {
        // Retried: BuildGrid gave the lease to the other worker once the dead one's session expired.
        eprintln!("fault a: the build succeeded; the killed worker's lease was retried");
        let kiln = kiln_spawns(&t.join("a.log"));
        for m in ["KilnMinify", "KilnHash", "KilnManifest", "KilnDist"] {
            assert!(kiln.iter().any(|(k, _)| k == m), "no {m} spawn: {kiln:?}");
        }
        assert!(kiln.iter().all(|(_, r)| r == "remote"), "kiln spawns not all remote: {kiln:?}");
        assert_same_dist(&good, &dist_bytes(&dist), "the build that lost a worker vs `kiln build`");
    } else {
        eprintln!("fault a: the build failed cleanly:\n{err}");
        assert!(err.contains("ERROR:"), "a failed build without an error message:\n{err}");
        assert!(!dist.exists(), "the failed build left a dist at {dist:?}");
    }
    // The worker again (by `up`, which starts only what is missing).
    cluster_cmd("up", &cluster.state, &[]);
    let again = cluster.pids()[&paused];
    assert!(again != victim && running(again), "{paused} did not start again");
    // Every kiln action executed on the workers again (no cached result accepted).
    bazel_clean(&bazel, false);
    let mut fresh = remote.clone();
    fresh.push("--noremote_accept_cached".into());
    let o = bazel.build(&fresh, &t.join("a2.log"));
    let kiln = kiln_spawns(&t.join("a2.log"));
    assert!(kiln.iter().all(|(_, r)| r == "remote"), "kiln spawns not all remote: {kiln:?}");
    assert!(process_summary(&o).keys().all(|k| k == "remote" || k == "internal"), "{:?}", process_summary(&o));
    assert_same_dist(&good, &dist_bytes(&dist), "the build after the worker restart vs `kiln build`");
    let actions = kiln.len();

    // b. BuildGrid restarted alone: everything else keeps its PID; the cache still hits.
    let before = cluster.pids();
    cluster_cmd("restart-server", &cluster.state, &[]);
    let after = cluster.pids();
    assert!(!running(before["buildgrid"]) && after["buildgrid"] != before["buildgrid"], "BuildGrid did not restart");
    for (name, pid) in &before {
        if name != "buildgrid" {
            assert_eq!(after.get(name), Some(pid), "{name} restarted with BuildGrid");
        }
    }
    bazel_clean(&bazel, true);
    let o = bazel.build(&remote, &t.join("b.log"));
    let summary = process_summary(&o);
    assert!(summary.keys().all(|k| k == "remote cache hit" || k == "internal"), "after a BuildGrid restart: {summary:?}");
    let kiln = kiln_spawns(&t.join("b.log"));
    assert_eq!(kiln.len(), actions, "a different set of kiln actions: {kiln:?}");
    assert!(kiln.iter().all(|(_, r)| r == "remote cache hit"), "not all cache hits after a BuildGrid restart: {kiln:?}");
    assert_same_dist(&good, &dist_bytes(&dist), "the build after a BuildGrid restart vs `kiln build`");

    // c. One output blob corrupted in the CAS (same file name, so the same digest; other bytes):
    //    the largest JS file of the dist, an output of KilnMinify and of KilnDist alike.
    let (victim_key, victim_bytes) = good.iter().filter(|(k, _)| k.ends_with(".js")).max_by_key(|(k, v)| (v.len(), (*k).clone())).unwrap();
    let hex: String = {
        use sha2::Digest;
        sha2::Sha256::digest(victim_bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    let blob = cluster.state.join("cas/cas/objects").join(&hex[..2]).join(&hex[2..]);
    assert_eq!(fs::read(&blob).unwrap_or_else(|e| panic!("{blob:?} ({victim_key}): {e}")), *victim_bytes, "the CAS file is not the blob");
    let mut corrupt = victim_bytes.clone();
    for b in corrupt.iter_mut() {
        *b = if *b == b'x' { b'y' } else { b'x' };
    }
    fs::write(&blob, &corrupt).unwrap();
    bazel_clean(&bazel, true);
    let o = try_build(&bazel, &remote, &t.join("c.log"));
    let err = stderr(&o);
    if o.status.success() {
        eprintln!("fault c: the build succeeded (the corrupted blob's actions re-executed)");
        assert_same_dist(&good, &dist_bytes(&dist), "the build over a corrupted CAS vs `kiln build`");
    } else {
        let found = assert_nothing_wrong(&dist, &good, "the build over a corrupted CAS");
        eprintln!("fault c: the build failed ({} dist files left, all known-good):\n{err}", found);
        assert!(err.contains(&hex) && err.contains("digest"), "the failed build does not name the corrupted blob {hex}:\n{err}");
    }
    drop(bazel);
    drop(cluster);
}
