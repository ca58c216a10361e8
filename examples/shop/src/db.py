"""SQLite access and migrations.

Migrations are ``src/migrations/NNNN_name.py`` files defining ``up(conn)``.
They are loaded from SOURCE with importlib (kiln keeps them as .py in the
dist) and applied in file-name order, each inside its own transaction;
applied names are recorded in ``schema_migrations``.
"""
import importlib.machinery
import importlib.util
import os
import re
import sqlite3
import threading

from . import settings as _settings

MIGRATION_RE = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.py$")


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Loads a migration from its .py without writing __pycache__ next to it."""

    def set_data(self, path, data, *, _mode=0o666):
        pass


def migration_files(directory=_settings.MIGRATIONS_DIR):
    return sorted(n for n in os.listdir(directory) if MIGRATION_RE.match(n))


def load_migration(path):
    name = "shop_migration_" + os.path.splitext(os.path.basename(path))[0]
    loader = _SourceOnlyLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    if not callable(getattr(module, "up", None)):
        raise RuntimeError("migration %s does not define up(conn)" % path)
    return module


def apply_migrations(conn, directory=_settings.MIGRATIONS_DIR):
    """Applies pending migrations; returns the names applied by this call."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for filename in migration_files(directory):
        name = filename[:-3]
        if name in done:
            continue
        module = load_migration(os.path.join(directory, filename))
        conn.execute("BEGIN")
        try:
            module.up(conn)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


class Database:
    """One shared connection per app (wsgiref is single-threaded, but a lock
    keeps threaded servers safe too)."""

    def __init__(self, path=":memory:", migrations_dir=_settings.MIGRATIONS_DIR):
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        with self.lock:
            self.applied = apply_migrations(self.conn, migrations_dir)

    def query(self, sql, params=()):
        with self.lock:
            return [dict(row) for row in self.conn.execute(sql, params).fetchall()]

    def query_one(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self):
        with self.lock:
            self.conn.close()
