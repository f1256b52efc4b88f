"""Unary SayHello calls of examples/proto/greeter.proto from THREADS threads, each on a
channel of its own (one HTTP/2 connection, re-made by grpcio after a GOAWAY, calls that
never left the client retried by it, as gRPC clients do), for SECONDS seconds against
127.0.0.1:PORT. Prints one line: `ok N failed M` and then each failure's code.

Usage: grpc_calls.py PORT SECONDS THREADS
"""

import collections
import sys
import threading
import time

import grpc

port, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
# The request, as protobuf writes HelloRequest{name: "bench"}; the reply is not read.
REQUEST = b"\x0a\x05bench"
counts = collections.Counter()
lock = threading.Lock()
deadline = time.monotonic() + seconds


def calls():
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    say_hello = channel.unary_unary(
        "/greeter.Greeter/SayHello",
        request_serializer=lambda request: request,
        response_deserializer=lambda reply: reply,
    )
    ok, failed = 0, collections.Counter()
    while time.monotonic() < deadline:
        try:
            say_hello(REQUEST, timeout=30)
            ok += 1
        except grpc.RpcError as error:
            failed[error.code().name] += 1
    channel.close()
    with lock:
        counts["ok"] += ok
        counts.update({f"failed {code}": n for code, n in failed.items()})


workers = [threading.Thread(target=calls) for _ in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
failures = {key: n for key, n in counts.items() if key != "ok"}
print(f"ok {counts['ok']} failed {sum(failures.values())} {' '.join(f'{k}={v}' for k, v in failures.items())}")
