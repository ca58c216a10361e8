"""BuildGrid's `bgd` command, as the cluster runs it: `bgd.py DB_URL CONFIG` brings the scheduler's
database schema to this release's head (alembic; a no-op when it is there), then serves CONFIG.

One process for both saves an interpreter start, and jsonschema.validate is replaced by the same
check without its self-check of BuildGrid's large schema against the JSON Schema metaschema, which
bgd repeats for every component of the configuration and which takes seconds of a 2-core machine's
start-up. The configuration itself is validated exactly as before. grpc.server is called without
BuildGrid's cap on concurrent RPCs (see server() below).
"""

import sys

import jsonschema


def validate(instance, schema, cls=None, *args, **kwargs):
    cls = cls or jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


jsonschema.validate = validate

import grpc  # noqa: E402

_grpc_server = grpc.server


def server(*args, maximum_concurrent_rpcs=None, **kwargs):
    """grpc.server without BuildGrid's cap on concurrent RPCs (its thread-pool-size): over the
    cap, gRPC answers RESOURCE_EXHAUSTED at once, and Bazel, which opens up to 100 streams per
    connection (a fresh cluster gets a thousand-file standard library for KilnPyc), then fails
    the build with "Error while uploading artifact". Without it, RPCs wait for a thread."""
    return _grpc_server(*args, **kwargs)


grpc.server = server

from buildgrid.server.app import cli  # noqa: E402  (after the patch, which it must see)


def main():
    if len(sys.argv) != 3:
        print("usage: bgd.py DB_URL CONFIG", file=sys.stderr)
        return 2
    db_url, config = sys.argv[1:]
    cli.main(["migrate", "apply", db_url], prog_name="bgd", standalone_mode=False)
    print("bgd.py: schema at head; starting the server", file=sys.stderr, flush=True)
    return cli.main(["server", "start", config], prog_name="bgd", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
