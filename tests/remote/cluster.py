"""The cluster behind tests/remote/cluster (see there and README.md): PostgreSQL (the scheduler's
database), Redis (the action cache, persistent), BuildGrid (CAS on disk, ByteStream, ActionCache,
Execution, Bots; instance `main`) and N workers, all listening on 127.0.0.1 only and keeping every
byte of state under STATE_DIR, so that `down` then `up` is a restart that keeps CAS and cache.

Layout of STATE_DIR:
  cluster.json      ports and worker count, fixed at the first `up`
  lock              held by a running `up` or `down`
  env               the REMOTE_EXECUTOR= / REMOTE_CACHE= lines `up` prints
  run/NAME.pid      "PID STARTTIME" of each process `up` started (STARTTIME guards against PID reuse)
  ready/worker-N    written by each worker once its bot session exists
  log/NAME.log      each process's output
  pg/data redis/ cas/ bgd.yml bin/worker.py worker-N/ worker-cache/
"""

import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER = "kiln-cluster"
DEFAULT_WORKERS = 2
DEFAULT_GRPC_PORT = 50051
INSTANCE = "main"
UP_TIMEOUT = 120.0


class Failure(Exception):
    pass


def say(msg):
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------------


def start_time(pid):
    """The kernel's start time of a process (clock ticks since boot), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is finished
        return None
    return fields[19]


class State:
    def __init__(self, root):
        self.root = Path(os.path.abspath(root))
        self.run = self.root / "run"
        self.logs = self.root / "log"

    def pidfile(self, name):
        return self.run / f"{name}.pid"

    def recorded(self):
        """Names with a pid file, in start order (the order `down` reverses)."""
        if not self.run.is_dir():
            return []
        order = {"redis": 0, "postgres": 1, "buildgrid": 2}
        names = [p.name[:-4] for p in self.run.glob("*.pid")]
        return sorted(names, key=lambda n: (order.get(n, 3), n))

    def pid(self, name):
        """The PID of a process this cluster started and that still runs, else None."""
        try:
            pid_s, started = self.pidfile(name).read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_s)
        return pid if start_time(pid) == started else None

    def log_tail(self, name, lines=25):
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  {name}| {line}" for line in text[-lines:])

    def start(self, name, argv, user=None, env=None, cwd=None):
        self.run.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        kwargs = {}
        if user is not None:
            kwargs = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or self.root,
            env=env or base_env(),
            start_new_session=True,  # no terminal signals; `down` signals exactly this PID
            close_fds=True,
            **kwargs,
        )
        log.close()
        started = None
        for _ in range(100):
            started = start_time(proc.pid)
            if started:
                break
            time.sleep(0.01)
        if started is None:
            raise Failure(f"{name} exited at once:\n{self.log_tail(name)}")
        self.pidfile(name).write_text(f"{proc.pid} {started}\n")
        return proc.pid

    def stop(self, name, timeout=20.0):
        pid = self.pid(name)
        if pid is not None:
            # PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM would wait for clients to leave).
            sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
            os.kill(pid, sig)
            deadline = time.time() + timeout
            while self.pid(name) is not None and time.time() < deadline:
                time.sleep(0.05)
            if self.pid(name) is not None:
                say(f"{name} (pid {pid}) did not stop in {timeout:g} s; killing it")
                os.kill(pid, signal.SIGKILL)
                while self.pid(name) is not None:
                    time.sleep(0.05)
        self.pidfile(name).unlink(missing_ok=True)
        (self.root / "ready" / name).unlink(missing_ok=True)


def base_env():
    # Services get a small fixed environment, not the caller's.
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "HOME": "/nonexistent"}


T0 = time.time()


def wait_until(check, what, state, watch, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        for name in watch:
            if state.pid(name) is None:
                raise Failure(f"{name} exited while waiting for {what}:\n{state.log_tail(name)}")
        try:
            if check():
                say(f"{what}: ready ({time.time() - T0:.1f} s)")
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise Failure(f"timed out after {timeout:g} s waiting for {what} ({last!r})")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


# --- the unprivileged user -----------------------------------------------------------------------


def service_user():
    """As root, every process runs as the system user kiln-cluster (created once): PostgreSQL
    refuses root, and a worker that is not root cannot write where a real worker could not."""
    if os.geteuid() != 0:
        return None
    # Clusters start in parallel (one per test): two useradds racing on a fresh machine left one
    # process holding a uid the other's write had replaced ("could not look up effective user
    # ID"). One creator at a time; the others find the user it made.
    with open("/run/lock/kiln-cluster-user.lock" if os.path.isdir("/run/lock") else "/tmp/kiln-cluster-user.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(USER)
        except KeyError:
            pass
        subprocess.run(
            ["/usr/sbin/useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
        return pwd.getpwnam(USER)


def own(path, user):
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def check_reachable(state, user):
    if user is None:
        return
    probe = subprocess.run(
        ["/usr/bin/test", "-x", str(state.root), "-a", "-r", str(state.root)],
        user=user.pw_uid, group=user.pw_gid, extra_groups=[], env=base_env(),
    )
    if probe.returncode != 0:
        raise Failure(f"{state.root}: user {USER} cannot reach it (a parent directory lacks o+x)")


# --- configuration -------------------------------------------------------------------------------


# Asked of each interpreter (-S -E): the files it runs on, were an action to reach them.
PYTHON_FILES = """
import os, sys, sysconfig
print(os.path.realpath(sys.executable))
print(os.path.realpath(sysconfig.get_path("stdlib")))
print(os.path.realpath(sysconfig.get_path("platstdlib")))
with open("/proc/self/maps") as maps:
    for lib in sorted({l.split(None, 5)[5].strip() for l in maps if "/libpython" in l}):
        print(os.path.realpath(lib))
"""


def hidden_tools(user):
    """Host files the workers' actions cannot use: $KILN_REMOTE_HIDE (colon-separated; empty for
    none), else every Python interpreter in the usual bin directories and the `python3` first on
    the caller's PATH (a pyenv one, say), each with its standard library's directories and the
    shared libpython it loads. An action that needs Python must bring all of them as inputs, as
    it would on a bare remote worker: with the executable alone, Python would quietly fall back on
    this host's standard library at the prefix it was built for. Paths the workers' user cannot
    reach are left out: hidden already (a bind mount there would fail)."""
    if "KILN_REMOTE_HIDE" in os.environ:
        paths = [p for p in os.environ["KILN_REMOTE_HIDE"].split(":") if p]
        for p in paths:
            if not os.path.exists(p):
                raise Failure(f"KILN_REMOTE_HIDE: {p}: does not exist (only existing paths can be hidden)")
        return paths
    found, interpreters = set(), set()
    for d in ("/usr/bin", "/usr/local/bin", "/bin"):
        for p in Path(d).glob("python*"):
            real = p.resolve()
            if real.is_file():
                found.add(str(real))
                with open(real, "rb") as f:
                    if f.read(4) == b"\x7fELF":  # not python3-config and other scripts
                        interpreters.add(str(real))
    first = shutil.which("python3")
    if first:
        interpreters.add(first)
    for python in sorted(interpreters):
        try:
            out = subprocess.run([python, "-S", "-E", "-c", PYTHON_FILES], capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            found.update(p for p in out.stdout.splitlines() if os.path.exists(p))
    return sorted(p for p in found if reachable(p, user))


def reachable(path, user):
    """Whether the workers' user can reach `path` (and so could use it, or bind-mount over it)."""
    if user is None:
        return os.access(path, os.R_OK)
    probe = subprocess.run(["/usr/bin/test", "-r", path], user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                           env=base_env())
    return probe.returncode == 0


def postgres_bin():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise Failure("PostgreSQL is not installed (Debian package postgresql)")
    return versions[-1].parent


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def load_config(state):
    """Ports and worker count, chosen at the first `up` and kept: a restart keeps its address.
    gRPC: $KILN_REMOTE_GRPC_PORT as given, else BuildGrid's usual 50051 when free (the address in
    the root .bazelrc), else any free port; PostgreSQL and Redis: any free ports."""
    path = state.root / "cluster.json"
    if path.exists():
        return json.loads(path.read_text())
    workers = int(os.environ.get("KILN_REMOTE_WORKERS", DEFAULT_WORKERS))
    if os.environ.get("KILN_REMOTE_GRPC_PORT"):
        grpc_port = int(os.environ["KILN_REMOTE_GRPC_PORT"])
    else:
        grpc_port = DEFAULT_GRPC_PORT if port_is_free(DEFAULT_GRPC_PORT) else free_port()
    ports = {grpc_port}
    while len(ports) < 3:
        ports.add(free_port())
    pg, redis = sorted(ports - {grpc_port})
    config = {"ports": {"postgres": pg, "redis": redis, "grpc": grpc_port}, "workers": workers}
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def bgd_config(state, config):
    p = config["ports"]
    return f"""\
# Written by tests/remote/cluster.py at every `up`.
server:
  - !channel
    address: "127.0.0.1:{p['grpc']}"
    insecure-mode: true

# gRPC turns on SO_REUSEPORT by default: a second BuildGrid on a port already taken would then
# start and share the connections (and so the builds) with the first. Without it, it exits.
grpc-server-options:
  grpc.so_reuseport: 0

authorization:
  method: none

connections:
  - !sql-connection &sql
    connection-string: postgresql+psycopg2://bgd@127.0.0.1:{p['postgres']}/bgd
    pool-size: 5
    pool-timeout: 30
    max-overflow: 10
  - !redis-connection &redis
    host: 127.0.0.1
    port: {p['redis']}

storages:
  # Blobs as files under cas/, so they outlive the server process.
  - !disk-storage &cas
    path: {state.root / 'cas'}

caches:
  # The action cache lives in Redis (append-only file on disk), so it outlives a restart too.
  - !redis-action-cache &ac
    storage: *cas
    redis: *redis
    allow-updates: true
    cache-failed-actions: false

schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *ac
    property-set: !dynamic-property-set
      # OSFamily and ISA are always match keys; actions need neither (an empty platform matches).
      match-property-keys: []
    # A killed worker's lease goes back to the queue after at most this many seconds.
    bot-session-keepalive-timeout: 30
    session-expiry-timer-interval: 5
    max-job-attempts: 3
    max-execution-timeout: 3600
    assigners:
      - !priority-age-assigner
        count: 1
        interval: 0.1
        priority-assignment-percentage: 100

instances:
  - name: {INSTANCE}
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas

# Threads that serve RPCs. bgd.py lifts BuildGrid's cap of as many concurrent RPCs (beyond it,
# gRPC refused them with RESOURCE_EXHAUSTED and Bazel's uploads failed): RPCs over it wait for a
# thread instead. Execute streams (one per remote action in flight: --jobs=16) and the workers'
# long polls hold a thread each, so this must stay well above their sum.
thread-pool-size: 64
"""


# --- up / down -----------------------------------------------------------------------------------


def up(state):
    state.root.mkdir(parents=True, exist_ok=True)
    user = service_user()
    check_reachable(state, user)
    config = load_config(state)
    ports = config["ports"]
    workers = [f"worker-{i}" for i in range(1, config["workers"] + 1)]
    for d in ("pg", "redis", "cas", "worker-cache", "ready", "faults", *workers):
        own(state.root / d, user)
    for d in ("run", "log", "bin"):
        (state.root / d).mkdir(exist_ok=True)
    # Scripts run by the service user are copied under STATE_DIR: it may not reach the checkout.
    for script in ("bgd.py", "worker.py"):
        shutil.copyfile(HERE / script, state.root / "bin" / script)
    as_user = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[]) if user else {}

    # 1. Redis, persisting the action cache as an append-only file (starts while initdb runs).
    if state.pid("redis") is None:
        state.start("redis", [
            "/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]),
            "--dir", str(state.root / "redis"), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "yes", "--daemonize", "no", "--logfile", "",
        ], user=user)

    # 2. PostgreSQL: a fresh cluster the first time (made beside and renamed, so a half-made one
    #    is never mistaken for a real one), then the bgd database.
    pg = postgres_bin()
    data = state.root / "pg" / "data"
    if not (data / "PG_VERSION").exists():
        fresh = state.root / "pg" / "data.new"
        if fresh.exists():
            shutil.rmtree(fresh)
        initdb = subprocess.run(
            [str(pg / "initdb"), "-D", str(fresh), "-U", "bgd", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            env=base_env(), cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **as_user,
        )
        if initdb.returncode != 0:
            raise Failure(f"initdb failed:\n{initdb.stdout}")
        fresh.rename(data)
    if state.pid("postgres") is None:
        # A test cluster: durability across a clean shutdown is all it needs, so no fsync.
        state.start("postgres", [
            str(pg / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(ports["postgres"]),
            "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "shared_buffers=32MB",
        ], user=user, cwd="/")

    import psycopg2  # from the venv
    import redis

    def pg_ready():
        psycopg2.connect(host="127.0.0.1", port=ports["postgres"], user="bgd", dbname="postgres").close()
        return True

    wait_until(pg_ready, "PostgreSQL", state, ["postgres"], 30)
    conn = psycopg2.connect(host="127.0.0.1", port=ports["postgres"], user="bgd", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'bgd'")
        if cur.fetchone() is None:
            cur.execute("CREATE DATABASE bgd")
    conn.close()
    wait_until(lambda: redis.Redis(host="127.0.0.1", port=ports["redis"], socket_timeout=1).ping(),
               "Redis", state, ["redis"], 30)

    # 3. BuildGrid, which first brings its schema to the release's head (see bgd.py), and the
    #    workers, started at the same time (they wait for the server themselves).
    if state.pid("buildgrid") is None:
        (state.root / "bgd.yml").write_text(bgd_config(state, config))
        state.start("buildgrid", [
            sys.executable, str(state.root / "bin" / "bgd.py"),
            f"postgresql+psycopg2://bgd@127.0.0.1:{ports['postgres']}/bgd", str(state.root / "bgd.yml"),
        ], user=user, cwd=str(state.root / "cas"))
    hidden = None
    for name in workers:
        if state.pid(name) is None:
            if hidden is None:
                hidden = hidden_tools(user)
            (state.root / "ready" / name).unlink(missing_ok=True)
            state.start(name, [
                sys.executable, str(state.root / "bin" / "worker.py"),
                "--server", f"grpc://127.0.0.1:{ports['grpc']}", "--instance", INSTANCE,
                # A stable bot id: a restarted worker's new session replaces its old one at once
                # (BuildGrid re-queues what the old one held) instead of waiting for it to expire.
                "--bot-id", name,
                "--work-dir", str(state.root / name), "--cache-dir", str(state.root / "worker-cache"),
                "--ready-file", str(state.root / "ready" / name),
                "--fault-dir", str(state.root / "faults"),
                *(f"--hide={path}" for path in hidden),
            ], user=user)
    everyone = ["redis", "postgres", "buildgrid", *workers]
    wait_until(lambda: port_answers(ports["grpc"]), "BuildGrid", state, everyone, 60)
    wait_until(lambda: all((state.root / "ready" / n).exists() for n in workers),
               "the workers' bot sessions", state, everyone, 60)

    # 4. Every service answers, end to end.
    import probe

    wait_until(lambda: probe.run(f"127.0.0.1:{ports['grpc']}", INSTANCE), "a probe action on a worker",
               state, everyone, 60)

    lines = f"REMOTE_EXECUTOR=grpc://127.0.0.1:{ports['grpc']}\nREMOTE_CACHE=grpc://127.0.0.1:{ports['grpc']}\n"
    (state.root / "env").write_text(lines)
    sys.stdout.write(lines)


def down(state):
    for name in reversed(state.recorded()):
        state.stop(name)


def kill_worker(state, name):
    """SIGKILL one worker by its recorded PID, as a crash would (no goodbye to the server); a
    no-op when it is not running. The next `up` starts it again."""
    if not name.startswith("worker-"):
        raise Failure(f"{name}: not a worker name (worker-N)")
    pid = state.pid(name)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        while state.pid(name) is not None:
            time.sleep(0.05)
        say(f"{name} (pid {pid}) killed")
    state.pidfile(name).unlink(missing_ok=True)
    (state.root / "ready" / name).unlink(missing_ok=True)


def status(state):
    for name in state.recorded():
        pid = state.pid(name)
        print(f"{name} {'running' if pid else 'stopped'} {pid or '-'}")


USAGE = "usage: cluster up|down|status|restart-server STATE_DIR | kill-worker STATE_DIR worker-N"


def main(argv):
    verb = argv[1] if len(argv) > 1 else None
    if len(argv) != (4 if verb == "kill-worker" else 3) or verb not in ("up", "down", "status", "restart-server", "kill-worker"):
        print(USAGE, file=sys.stderr)
        return 2
    state = State(argv[2])
    if argv[1] != "status":
        # One command that starts or stops processes at a time per state directory.
        if argv[1] in ("up", "restart-server"):
            state.root.mkdir(parents=True, exist_ok=True)
        elif not state.root.is_dir():
            return 0
        lock = open(state.root / "lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
    if argv[1] == "down":
        down(state)
        return 0
    if argv[1] == "kill-worker":
        try:
            kill_worker(state, argv[3])
        except Failure as e:
            say(str(e))
            return 1
        return 0
    if argv[1] == "restart-server":
        # BuildGrid alone: PostgreSQL, Redis and the workers keep running (the workers reconnect).
        state.stop("buildgrid")
    if argv[1] == "status":
        status(state)
        return 0
    sys.path.insert(0, str(HERE))
    sys.dont_write_bytecode = True  # probe.py is imported from the checkout: leave no __pycache__ there
    try:
        up(state)
        return 0
    except BaseException as e:
        # A failed `up` leaves nothing running, whatever it had started before.
        msg = str(e) if isinstance(e, Failure) else repr(e)
        say(f"up failed: {msg}")
        down(state)
        if not isinstance(e, (Failure, KeyboardInterrupt)):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
