"""End-to-end check that every service of the cluster answers (used by `cluster up`).

Capabilities, CAS (BatchUpdateBlobs/FindMissingBlobs), ByteStream (Write/Read), ActionCache
(Update/GetActionResult, i.e. Redis) and Execution: one tiny uncached action run by a worker,
whose stdout must come back through the CAS.
"""

import hashlib
import io
import secrets

import grpc
from google.protobuf import duration_pb2

from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid.server.client.cas import Downloader, Uploader


def digest(data):
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def run(address, instance, timeout=30.0):
    with grpc.insecure_channel(address) as channel:
        caps = re_grpc.CapabilitiesStub(channel).GetCapabilities(
            re_pb2.GetCapabilitiesRequest(instance_name=instance), timeout=5
        )
        if not caps.execution_capabilities.exec_enabled:
            raise RuntimeError("execution is not enabled")

        token = secrets.token_hex(8).encode()
        uploader = Uploader(channel, instance=instance)
        downloader = Downloader(channel, instance=instance)
        # ByteStream Write then Read, and a batch write.
        big = b"kiln-probe-bytestream " + token
        uploader.put_blob(io.BytesIO(big), digest(big), queue=False)
        if downloader.get_blob(digest(big)) != big:
            raise RuntimeError("ByteStream read back different bytes")

        stdout = b"kiln-probe-ok " + token + b"\n"
        command = re_pb2.Command(arguments=["/bin/sh", "-c", f"echo 'kiln-probe-ok {token.decode()}'"])
        empty_dir = re_pb2.Directory()
        action = re_pb2.Action(
            command_digest=digest(command.SerializeToString()),
            input_root_digest=digest(empty_dir.SerializeToString()),
            timeout=duration_pb2.Duration(seconds=int(timeout)),
            do_not_cache=True,
        )
        for msg in (command, empty_dir, action):
            uploader.put_message(msg, queue=True)
        uploader.flush()
        cas = re_grpc.ContentAddressableStorageStub(channel)
        missing = cas.FindMissingBlobs(
            re_pb2.FindMissingBlobsRequest(instance_name=instance, blob_digests=[digest(big)]), timeout=5
        )
        if missing.missing_blob_digests:
            raise RuntimeError("CAS lost a blob it just stored")

        # ActionCache round trip (Redis behind it).
        ac = re_grpc.ActionCacheStub(channel)
        key = digest(b"kiln-probe-ac " + token)
        stored = re_pb2.ActionResult(exit_code=0, stdout_digest=digest(big))
        ac.UpdateActionResult(
            re_pb2.UpdateActionResultRequest(instance_name=instance, action_digest=key, action_result=stored), timeout=5
        )
        got = ac.GetActionResult(re_pb2.GetActionResultRequest(instance_name=instance, action_digest=key), timeout=5)
        if got.stdout_digest != stored.stdout_digest:
            raise RuntimeError("ActionCache returned a different result")

        # Execution through a worker.
        execution = re_grpc.ExecutionStub(channel)
        request = re_pb2.ExecuteRequest(
            instance_name=instance, action_digest=digest(action.SerializeToString()), skip_cache_lookup=True
        )
        final = None
        for op in execution.Execute(request, timeout=timeout):
            if op.done:
                final = op
        if final is None or final.HasField("error"):
            raise RuntimeError(f"probe action failed: {final.error if final else 'no answer'}")
        response = re_pb2.ExecuteResponse()
        final.response.Unpack(response)
        if response.status.code != 0:
            raise RuntimeError(f"probe action failed: {response.status}")
        if response.result.exit_code != 0:
            err = downloader.get_blob(response.result.stderr_digest) or b""
            raise RuntimeError(f"probe action exited {response.result.exit_code}: {err.decode(errors='replace')}")
        out = downloader.get_blob(response.result.stdout_digest)
        if out != stdout:
            raise RuntimeError(f"probe action printed {out!r}")
        return True


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "main"))
