"""A gRPC client driven by its test, one line at a time, with grpcio as the oracle.

Compiles examples/proto/greeter.proto with grpcio-tools into a temporary directory,
connects to argv[1] (host:port), prints {"ready": true}, then runs the commands read
on stdin, printing one JSON line per event:

- `hello NAME`: a SayHello on a new connection: {"hello": MESSAGE, "pid": P,
  "worker": W}, or {"failed": CODE, "details": ...}.
- `health SERVICE`: a Health.Check: {"health": STATUS} or {"failed": CODE}; `-` names
  the server as a whole.
- `watch SERVICE`: a Health.Watch in the background: {"watch": STATUS} per message,
  then {"watch_end": CODE}.
- `stream NAME COUNT INTERVAL_MS`: a Greetings call in the background:
  {"greeting": INDEX, "pid": P} per message, then {"stream_end": CODE, "received": N}.
- `raw METHOD`: a unary call of an empty message to METHOD (a path, which the server
  may not have): {"raw": "OK"} or {"failed": CODE, "details": ...}.
- `loop OLD_PIDS`: SayHello calls one after the other, each on the connection the
  channel holds, printing {"looping": true} after the first success and ending with
  {"loop": {"ok": N, "failed": M, "errors": [...], "pids": [...]}} once a process not
  in the comma-separated OLD_PIDS has answered.

Watch and stream share one connection (one channel), so that they reach the same
process. Every wait is bounded, so a hang shows as an event instead of a stuck test.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HANG = 30
OUT = threading.Lock()


def say(event):
    with OUT:
        print(json.dumps(event), flush=True)


def compile_proto(out):
    root = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "proto")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{root}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(root, "greeter.proto"),
        ],
        check=True,
    )
    sys.path.insert(0, out)


def channel(target):
    # A connection of its own, not one shared through grpc's global subchannel pool.
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def status_name(status):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def failure(error):
    return {"failed": error.code().name, "details": error.details()}


def run(target):
    import greeter_pb2
    import greeter_pb2_grpc

    shared = channel(target)
    grpc.channel_ready_future(shared).result(timeout=HANG)
    say({"ready": True})
    threads = []

    def watch(service):
        stub = health_pb2_grpc.HealthStub(shared)
        calls = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=HANG * 4)
        try:
            for message in calls:
                say({"watch": status_name(message.status)})
            say({"watch_end": calls.code().name})
        except grpc.RpcError as error:
            say({"watch_end": error.code().name, "details": error.details()})

    def stream(name, count, interval_ms):
        stub = greeter_pb2_grpc.GreeterStub(shared)
        request = greeter_pb2.GreetingsRequest(name=name, count=count, interval_ms=interval_ms)
        calls = stub.Greetings(request, timeout=HANG * 4)
        received = 0
        try:
            for message in calls:
                received += 1
                say({"greeting": message.index, "pid": message.pid})
            say({"stream_end": calls.code().name, "received": received})
        except grpc.RpcError as error:
            say({"stream_end": error.code().name, "received": received, "details": error.details()})

    def loop(old_pids):
        stub = greeter_pb2_grpc.GreeterStub(shared)
        ok, failed, errors, pids = 0, 0, [], []
        deadline = time.monotonic() + HANG * 2
        while time.monotonic() < deadline:
            try:
                reply = stub.SayHello(greeter_pb2.HelloRequest(name="loop"), timeout=HANG)
            except grpc.RpcError as error:
                failed += 1
                errors.append(failure(error))
                continue
            ok += 1
            if reply.pid not in pids:
                pids.append(reply.pid)
            if ok == 1:
                say({"looping": True})
            if reply.pid not in old_pids:
                break
        say({"loop": {"ok": ok, "failed": failed, "errors": errors[:10], "pids": pids}})

    for line in sys.stdin:
        command, *args = line.split()
        if command == "hello":
            with channel(target) as own:
                stub = greeter_pb2_grpc.GreeterStub(own)
                try:
                    reply = stub.SayHello(greeter_pb2.HelloRequest(name=args[0]), timeout=HANG)
                    worker = reply.worker if reply.HasField("worker") else None
                    say({"hello": reply.message, "pid": reply.pid, "worker": worker})
                except grpc.RpcError as error:
                    say(failure(error))
        elif command == "health":
            service = "" if args[0] == "-" else args[0]
            stub = health_pb2_grpc.HealthStub(shared)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=HANG)
                say({"health": status_name(reply.status)})
            except grpc.RpcError as error:
                say(failure(error))
        elif command == "raw":
            call = shared.unary_unary(args[0])
            try:
                call(b"", timeout=HANG)
                say({"raw": "OK"})
            except grpc.RpcError as error:
                say(failure(error))
        elif command == "watch":
            service = "" if args[0] == "-" else args[0]
            threads.append(threading.Thread(target=watch, args=(service,)))
            threads[-1].start()
        elif command == "stream":
            threads.append(
                threading.Thread(target=stream, args=(args[0], int(args[1]), int(args[2])))
            )
            threads[-1].start()
        elif command == "loop":
            old = {int(pid) for pid in args[0].split(",") if pid} if args else set()
            threads.append(threading.Thread(target=loop, args=(old,)))
            threads[-1].start()
    for thread in threads:
        thread.join(timeout=HANG * 4)


with tempfile.TemporaryDirectory() as generated:
    compile_proto(generated)
    try:
        run(sys.argv[1])
    except Exception as error:
        say({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)
