"""A small Remote Execution worker for BuildGrid, on its bundled Remote Workers API (bots) protos
and CAS client.

One process is one bot with capacity 1: it keeps a bot session with the server, takes a lease,
materialises the action's input root in a fresh directory, runs the command there with exactly the
action's environment (nothing inherited: no PATH, TZ, locale, HOME unless the action sets them),
uploads the declared outputs (files, and directories as Tree messages) and reports the
ActionResult (exit code, output digests, stdout/stderr digests) on the lease.

Failure reporting follows REAPI: a missing input blob is FAILED_PRECONDITION with a MISSING
violation (the client re-uploads and retries), an input whose bytes do not match its digest is
DATA_LOSS, a timeout is DEADLINE_EXCEEDED with the partial result, a worker-side fault is INTERNAL
(which BuildGrid retries on another lease). A command that exits non-zero is a normal result.
"""

import argparse
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2

from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc, worker_pb2
from buildgrid._protos.google.rpc import code_pb2, error_details_pb2, status_pb2
from buildgrid.server.client.cas import Downloader, Uploader
from buildgrid.server.exceptions import NotFoundError

# Long enough to pick up work promptly, short enough to stay well inside the server's bot
# keepalive timeout (cluster.py sets 30 s); BuildGrid answers at 80% of the deadline.
POLL_DEADLINE = 20.0
# The first session call only registers the bot; BuildGrid needs >= 3 s (its NETWORK_TIMEOUT / 0.8).
CREATE_DEADLINE = 4.0
HEARTBEAT_EVERY = 5.0
DEFAULT_TIMEOUT = 3600.0
BATCH_BYTES = 2 * 1024 * 1024
BATCH_COUNT = 500
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# How long a lease paused by a fault test (--fault-dir) is held before the worker runs it anyway.
PAUSE_LIMIT = 120.0


class ActionFailure(Exception):
    """An action that cannot run: reported as the lease's status, not as an exit code."""

    def __init__(self, code, message, missing=()):
        super().__init__(message)
        self.code = code
        self.missing = list(missing)


def log(msg):
    print(f"worker: {msg}", file=sys.stderr, flush=True)


def digest_of(data):
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def hash_file(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def check_name(name, where):
    # Directory entries come from the client: a name must stay one path component.
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ActionFailure(code_pb2.INVALID_ARGUMENT, f"{where}: invalid entry name {name!r}")


def check_relpath(path, what):
    if path.startswith("/") or "\0" in path:
        raise ActionFailure(code_pb2.INVALID_ARGUMENT, f"{what} {path!r} is not a relative path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ActionFailure(code_pb2.INVALID_ARGUMENT, f"{what} {path!r} leaves the input root")
    return "/".join(parts)


def inside(path, root):
    return path == root or path.startswith(root + os.sep)


@dataclass
class Blobs:
    """CAS access with verification, and a local content cache shared by the workers of a cluster."""

    downloader: Downloader
    uploader: Uploader
    cache_dir: str
    tmp: str  # this worker's own staging directory inside the shared cache
    directories: dict = field(default_factory=dict)

    def fetch(self, digests):
        """Bytes of small blobs (Directory, Command, Action messages), each verified."""
        wanted = {d.hash: d for d in digests}
        # The empty blob is never fetched (REAPI: it is always present, stored or not).
        out = {h: b"" for h, d in wanted.items() if h == EMPTY_SHA256 and d.size_bytes == 0}
        todo = [d for h, d in wanted.items() if h not in out]
        while todo:
            batch, size = [], 0
            while todo and len(batch) < BATCH_COUNT and (not batch or size + todo[0].size_bytes <= BATCH_BYTES):
                size += todo[0].size_bytes
                batch.append(todo.pop(0))
            if len(batch) == 1 and batch[0].size_bytes > BATCH_BYTES:
                data = self.downloader.get_blob(batch[0])
                got = [] if data is None else [(data, batch[0])]
            else:
                got = self.downloader.get_available_blobs(batch)
            for data, d in got:
                out[d.hash] = bytes(data)
        missing = [d for h, d in wanted.items() if h not in out]
        if missing:
            raise ActionFailure(code_pb2.FAILED_PRECONDITION, "missing input blobs", missing)
        for h, data in out.items():
            if hashlib.sha256(data).hexdigest() != h or len(data) != wanted[h].size_bytes:
                raise ActionFailure(code_pb2.DATA_LOSS, f"blob {h}/{wanted[h].size_bytes}: bytes do not match the digest")
        return out

    def message(self, digest, cls):
        msg = cls()
        msg.ParseFromString(self.fetch([digest])[digest.hash])
        return msg

    def cached(self, d):
        return os.path.join(self.cache_dir, d.hash[:2], f"{d.hash}-{d.size_bytes}")

    def ensure_files(self, digests):
        """Puts every file blob into the local cache (downloaded once, verified before use)."""
        todo = {d.hash: d for d in digests if not os.path.exists(self.cached(d))}
        empty = todo.pop(EMPTY_SHA256, None)
        if empty is not None and empty.size_bytes == 0:
            self.publish(empty, None)
        if not todo:
            return
        tmp = self.tmp
        staged = {}
        try:
            for h, d in todo.items():
                staged[h] = os.path.join(tmp, f"{h}.{uuid.uuid4().hex}")
                self.downloader.download_file(d, staged[h], queue=True)
            self.downloader.flush()
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                raise ActionFailure(code_pb2.FAILED_PRECONDITION, "missing input blobs", list(todo.values()))
            raise
        except NotFoundError:  # how the CAS client reports a missing blob in a batch
            raise ActionFailure(code_pb2.FAILED_PRECONDITION, "missing input blobs", list(todo.values()))
        for h, d in todo.items():
            path = staged[h]
            got = hash_file(path) if os.path.exists(path) else (None, 0)
            if got != (h, d.size_bytes):
                if os.path.exists(path):
                    os.unlink(path)
                raise ActionFailure(code_pb2.DATA_LOSS, f"blob {h}/{d.size_bytes}: bytes do not match the digest")
            self.publish(d, path)

    def publish(self, d, path):
        """Moves a verified blob into the cache (None: the empty blob), atomically."""
        if path is None:
            path = os.path.join(self.tmp, f"{d.hash}.{uuid.uuid4().hex}")
            open(path, "wb").close()
        os.chmod(path, 0o444)
        dest = self.cached(d)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(path, dest)

    def input_tree(self, root_digest):
        """Every (relative path, kind, digest, executable) of an input root, directories verified."""
        entries = []
        level = [("", root_digest)]
        while level:
            need = [d for _, d in level if d.hash not in self.directories]
            if need:
                for h, data in self.fetch(need).items():
                    msg = re_pb2.Directory()
                    msg.ParseFromString(data)
                    self.directories[h] = msg
            nxt = []
            for prefix, d in level:
                msg = self.directories[d.hash]
                seen = set()
                for group in (msg.files, msg.directories, msg.symlinks):
                    for node in group:
                        check_name(node.name, prefix or ".")
                        if node.name in seen:
                            raise ActionFailure(code_pb2.INVALID_ARGUMENT, f"{prefix or '.'}: duplicate entry {node.name!r}")
                        seen.add(node.name)
                for f in msg.files:
                    entries.append((prefix + f.name, "file", f.digest, f.is_executable))
                for sub in msg.directories:
                    entries.append((prefix + sub.name, "dir", None, False))
                    nxt.append((prefix + sub.name + "/", sub.digest))
                for link in msg.symlinks:
                    entries.append((prefix + link.name, "symlink", link.target, False))
            level = nxt
        return entries

    def materialise(self, root_digest, dest):
        entries = self.input_tree(root_digest)
        self.ensure_files([e[2] for e in entries if e[1] == "file"])
        os.makedirs(dest, exist_ok=True)
        for rel, kind, what, executable in entries:
            path = os.path.join(dest, rel)
            if kind == "dir":
                os.mkdir(path, 0o755)
            elif kind == "file":
                shutil.copyfile(self.cached(what), path)
                os.chmod(path, 0o755 if executable else 0o644)
            else:
                os.symlink(what, path)


def output_target(root, path, real_root):
    """An output as found: a symlink is followed, but only within the execution root."""
    real = os.path.realpath(path)
    if not inside(real, real_root):
        raise ActionFailure(code_pb2.FAILED_PRECONDITION, f"output {os.path.relpath(path, root)} is a symlink out of the execution root")
    return real


def build_tree(blobs, top, exec_root):
    """Uploads a directory output as a REAPI Tree: files first, then every Directory, sorted."""
    children = {}

    def walk(path, chain):
        d = re_pb2.Directory()
        for entry in sorted(os.listdir(path)):
            full = os.path.join(path, entry)
            real = os.path.realpath(full)
            if not inside(real, exec_root):
                raise ActionFailure(code_pb2.FAILED_PRECONDITION, f"output {os.path.relpath(full, exec_root)} is a symlink out of the execution root")
            st = os.stat(real)
            if stat.S_ISDIR(st.st_mode):
                if real in chain:
                    raise ActionFailure(code_pb2.FAILED_PRECONDITION, f"output {os.path.relpath(full, exec_root)} is a symlink cycle")
                sub = walk(real, chain | {real})
                data = sub.SerializeToString()
                digest = digest_of(data)
                children[digest.hash] = sub
                d.directories.add(name=entry, digest=digest)
            elif stat.S_ISREG(st.st_mode):
                digest = blobs.uploader.upload_file(real, queue=True)
                d.files.add(name=entry, digest=digest, is_executable=bool(st.st_mode & 0o100))
        return d

    root = walk(os.path.realpath(top), {os.path.realpath(top)})
    for sub in children.values():
        blobs.uploader.put_message(sub, queue=True)
    tree = re_pb2.Tree(root=root, children=[children[h] for h in sorted(children)])
    return blobs.uploader.put_message(tree, queue=True)


def resolve_program(argv0, env, cwd):
    """REAPI: a path with a slash is taken as is (relative to the working directory); a bare name is
    looked up on the action's own PATH only. No PATH in the action means no lookup."""
    if "/" in argv0:
        return argv0 if os.path.isabs(argv0) else os.path.join(cwd, argv0)
    for d in env.get("PATH", "").split(":"):
        if not d:
            continue
        cand = os.path.join(d if os.path.isabs(d) else os.path.join(cwd, d), argv0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


class Worker:
    def __init__(self, args):
        self.args = args
        self.bot_id = args.bot_id
        self.stop = threading.Event()
        self.current = None  # the running action's Popen, for cancellation and shutdown
        self.lock = threading.Lock()
        self.channel = grpc.insecure_channel(
            args.server.removeprefix("grpc://"),
            options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
        )
        self.bots = bots_pb2_grpc.BotsStub(self.channel)
        self.blobs = Blobs(
            Downloader(self.channel, instance=args.instance),
            Uploader(self.channel, instance=args.instance),
            args.cache_dir,
            os.path.join(args.cache_dir, "tmp", args.bot_id),
        )
        # Leftovers of a previous run of this worker (killed mid-action) go first.
        for leftover in (os.path.join(args.work_dir, "builds"), self.blobs.tmp):
            shutil.rmtree(leftover, ignore_errors=True)
            os.makedirs(leftover)
        # What a hidden directory shows inside an action's namespace.
        self.empty_dir = os.path.join(args.work_dir, "empty")
        os.makedirs(self.empty_dir, exist_ok=True)

    # --- bot session ---------------------------------------------------------------------------

    def new_session(self):
        device = worker_pb2.Device(handle=self.bot_id)
        for key, value in (("OSFamily", "linux"), ("ISA", "x86-64")):
            device.properties.add(key=key, value=value)
        session = bots_pb2.BotSession(bot_id=self.bot_id, status=bots_pb2.OK)
        session.worker.devices.append(device)
        session.worker.configs.add(key="capacity", value="1")
        return session

    def call(self, session, deadline, create=False):
        """One CreateBotSession/UpdateBotSession; retries while the server is away (restarts)."""
        delay = 0.2
        while not self.stop.is_set():
            try:
                if create or not session.name:
                    req = bots_pb2.CreateBotSessionRequest(parent=self.args.instance, bot_session=session)
                    return self.bots.CreateBotSession(req, timeout=CREATE_DEADLINE)
                req = bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session)
                return self.bots.UpdateBotSession(req, timeout=deadline)
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    if create or not session.name:
                        continue
                    return session
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                # The server no longer knows this session (expired, or its state was reset):
                # start a new one; the scheduler re-queues whatever the old one held.
                log(f"session {session.name or '(new)'}: {code.name}: {e.details()}; starting a new session")
                fresh = self.new_session()
                session.CopyFrom(fresh)
                create = True
                time.sleep(delay)
        return session

    def run(self):
        # Registered as not yet accepting work, BuildGrid answers at once instead of holding the
        # first call open waiting for a lease; the first update then says OK and starts polling.
        first = self.new_session()
        first.status = bots_pb2.UNHEALTHY
        session = self.call(first, CREATE_DEADLINE, create=True)
        session.status = bots_pb2.OK
        if self.args.ready_file:
            with open(self.args.ready_file, "w") as f:
                f.write(session.name + "\n")
        log(f"{self.bot_id}: session {session.name}")
        while not self.stop.is_set():
            lease = next((l for l in session.leases if l.state == bots_pb2.LeaseState.ACTIVE), None)
            if lease is None:
                # Nothing to run (or a lease still PENDING on the server side): long-poll.
                session = self.call(session, POLL_DEADLINE)
                continue
            session = self.work(session, lease.id)

    def work(self, session, lease_id):
        lease = next(l for l in session.leases if l.id == lease_id)
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(r=self.execute(lease)), daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(HEARTBEAT_EVERY)
            if runner.is_alive():
                session = self.call(session, HEARTBEAT_EVERY)
                if not any(l.id == lease_id for l in session.leases) and not self.stop.is_set():
                    log(f"lease {lease_id}: cancelled by the server")
                    self.kill_current()
        status, result = outcome.get("r", (status_pb2.Status(code=code_pb2.INTERNAL, message="worker stopped"), None))
        mine = [l for l in session.leases if l.id == lease_id]
        if not mine:
            return session
        done = mine[0]
        done.state = bots_pb2.LeaseState.COMPLETED
        done.status.CopyFrom(status)
        if result is not None:
            done.result.Pack(result)
        return self.call(session, HEARTBEAT_EVERY)

    def wrap(self, program, args, env):
        """The command line that runs one action, and the environment to start it with.

        setpriv --pdeathsig: the action dies with this worker (a killed worker leaves no stray
        build behind). With --hide, the action runs in its own user and mount namespace where each
        hidden file is /dev/null (not executable) and each hidden directory is empty: a host
        interpreter or its standard library cannot stand in for what the action should have
        brought as an input. It is uid 0 in that namespace, mapped to this
        worker's user outside. `env -i NAME=VALUE…` then restores exactly the action's environment,
        which the shell doing the mounts would otherwise extend (with PWD).
        """
        run = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", program, *args]
        if not self.args.hide:
            return run, env
        mounts = ('empty=$1; shift; while [ "$1" != -- ]; do '
                  'if [ -d "$1" ]; then src=$empty; else src=/dev/null; fi; '
                  '/bin/mount --bind "$src" "$1" || exit 125; shift; done; shift; exec "$@"')
        return [
            "/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", mounts, "sh",
            self.empty_dir,
            *self.args.hide, "--", "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in sorted(env.items())), *run,
        ], {}

    def kill_current(self):
        with self.lock:
            if self.current is not None and self.current.poll() is None:
                try:
                    os.killpg(self.current.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # --- fault injection (tests) -----------------------------------------------------------------

    def maybe_pause(self, command):
        """A fault test's hook: FAULT_DIR/pause-on holds a string; the first lease (of any worker)
        whose program path contains it takes that file, atomically, as FAULT_DIR/paused-BOT_ID, and
        this worker then holds the lease without running it (heartbeats go on) until it is
        killed, or PAUSE_LIMIT passes. The test kills it knowing that a lease is in flight."""
        if not self.args.fault_dir:
            return
        armed = os.path.join(self.args.fault_dir, "pause-on")
        try:
            with open(armed) as f:
                needle = f.read().strip()
        except OSError:
            return
        if not needle or needle not in command.arguments[0]:
            return
        try:
            os.rename(armed, os.path.join(self.args.fault_dir, f"paused-{self.bot_id}"))
        except FileNotFoundError:  # another worker took it first
            return
        log(f"pausing on {command.arguments[0]} (fault injection: {armed})")
        deadline = time.time() + PAUSE_LIMIT
        while time.time() < deadline and not self.stop.is_set():
            time.sleep(0.1)
        log("pause over: running the action")

    # --- one action ----------------------------------------------------------------------------

    def execute(self, lease):
        build = os.path.join(self.args.work_dir, "builds", uuid.uuid4().hex)
        try:
            return status_pb2.Status(code=code_pb2.OK), self.execute_in(lease, build)
        except ActionFailure as e:
            log(f"lease {lease.id}: {code_pb2.Code.Name(e.code)}: {e}")
            status = status_pb2.Status(code=e.code, message=str(e))
            if e.missing:
                failure = error_details_pb2.PreconditionFailure()
                for d in e.missing:
                    failure.violations.add(type="MISSING", subject=f"blobs/{d.hash}/{d.size_bytes}")
                status.details.add().Pack(failure)
            return status, getattr(e, "partial", None)
        except Exception as e:  # a fault of this worker, not of the action: BuildGrid retries it
            log(f"lease {lease.id}: internal error: {e!r}")
            return status_pb2.Status(code=code_pb2.INTERNAL, message=f"worker {self.bot_id}: {e!r}"), None
        finally:
            shutil.rmtree(build, ignore_errors=True)

    def execute_in(self, lease, build):
        started = time.time()
        if lease.payload.Is(re_pb2.Action.DESCRIPTOR):
            action = re_pb2.Action()
            lease.payload.Unpack(action)
        else:
            digest = re_pb2.Digest()
            lease.payload.Unpack(digest)
            action = self.blobs.message(digest, re_pb2.Action)
        command = self.blobs.message(action.command_digest, re_pb2.Command)
        if not command.arguments:
            raise ActionFailure(code_pb2.INVALID_ARGUMENT, "command has no arguments")
        self.maybe_pause(command)

        root = os.path.join(build, "root")
        os.makedirs(build)
        fetch_start = time.time()
        self.blobs.materialise(action.input_root_digest, root)
        fetch_done = time.time()

        wd_rel = check_relpath(command.working_directory, "working directory")
        wd = os.path.join(root, wd_rel) if wd_rel else root
        os.makedirs(wd, exist_ok=True)
        file_outputs = [check_relpath(p, "output") for p in command.output_files]
        dir_outputs = [check_relpath(p, "output") for p in command.output_directories]
        path_outputs = [check_relpath(p, "output") for p in command.output_paths]
        # The worker creates the parent directories of every declared output (REAPI).
        for rel in file_outputs + dir_outputs + path_outputs:
            os.makedirs(os.path.dirname(os.path.join(wd, rel)) or wd, exist_ok=True)

        env = {v.name: v.value for v in command.environment_variables}
        program = resolve_program(command.arguments[0], env, wd)
        timeout = action.timeout.ToTimedelta().total_seconds() if action.HasField("timeout") else DEFAULT_TIMEOUT
        out_path, err_path = os.path.join(build, "stdout"), os.path.join(build, "stderr")
        exit_code, timed_out = 127, False
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            if program is None:
                err.write(f"worker: {command.arguments[0]}: not found on the action's PATH\n".encode())
            else:
                argv, popen_env = self.wrap(program, command.arguments[1:], env)
                try:
                    with self.lock:
                        self.current = subprocess.Popen(
                            argv, cwd=wd, env=popen_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True, close_fds=True,
                        )
                    try:
                        exit_code = self.current.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        timed_out = True
                        self.kill_current()
                        exit_code = self.current.wait()
                except OSError as e:
                    err.write(f"worker: cannot run {command.arguments[0]}: {e.strerror}\n".encode())
                finally:
                    with self.lock:
                        self.current = None
        exec_done = time.time()

        result = re_pb2.ActionResult(exit_code=exit_code)
        real_root = os.path.realpath(root)
        for rel in file_outputs + path_outputs:
            full = os.path.join(wd, rel)
            if not os.path.lexists(full):
                continue
            real = output_target(root, full, real_root)
            st = os.stat(real)
            if stat.S_ISDIR(st.st_mode):
                if rel in file_outputs:
                    raise ActionFailure(code_pb2.FAILED_PRECONDITION, f"output file {rel} is a directory")
                result.output_directories.add(path=rel, tree_digest=build_tree(self.blobs, real, real_root))
                continue
            digest = self.blobs.uploader.upload_file(real, queue=True)
            result.output_files.add(path=rel, digest=digest, is_executable=bool(st.st_mode & 0o100))
        for rel in dir_outputs:
            full = os.path.join(wd, rel)
            if not os.path.lexists(full):
                continue
            real = output_target(root, full, real_root)
            if not os.path.isdir(real):
                raise ActionFailure(code_pb2.FAILED_PRECONDITION, f"output directory {rel} is not a directory")
            result.output_directories.add(path=rel, tree_digest=build_tree(self.blobs, real, real_root))
        result.stdout_digest.CopyFrom(self.blobs.uploader.upload_file(out_path, queue=True))
        result.stderr_digest.CopyFrom(self.blobs.uploader.upload_file(err_path, queue=True))
        self.blobs.uploader.flush()

        meta = result.execution_metadata
        meta.worker = self.bot_id
        for field_name, t in (
            ("worker_start_timestamp", started), ("input_fetch_start_timestamp", fetch_start),
            ("input_fetch_completed_timestamp", fetch_done), ("execution_start_timestamp", fetch_done),
            ("execution_completed_timestamp", exec_done), ("output_upload_start_timestamp", exec_done),
            ("output_upload_completed_timestamp", time.time()), ("worker_completed_timestamp", time.time()),
        ):
            getattr(meta, field_name).FromNanoseconds(int(t * 1e9))
        if timed_out:
            failure = ActionFailure(code_pb2.DEADLINE_EXCEEDED, f"action timed out after {timeout:g} s")
            failure.partial = result
            raise failure
        return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="grpc://HOST:PORT of BuildGrid's Bots service")
    p.add_argument("--instance", default="main")
    p.add_argument("--bot-id", required=True)
    p.add_argument("--work-dir", required=True, help="fresh build directories are made under WORK_DIR/builds")
    p.add_argument("--cache-dir", required=True, help="verified local copies of CAS file blobs")
    p.add_argument("--ready-file", help="written once the bot session exists")
    p.add_argument("--hide", action="append", default=[], metavar="PATH",
                   help="a host file (or directory) that actions must not be able to use (repeatable)")
    p.add_argument("--fault-dir", help="fault injection for tests: see Worker.maybe_pause")
    args = p.parse_args()
    os.umask(0o022)
    worker = Worker(args)

    def stop(signum, _frame):
        worker.stop.set()
        worker.kill_current()
        # Leave at once: the lease is re-queued by the server when this session expires.
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
