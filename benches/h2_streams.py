"""GET / on HTTP/2 with prior knowledge against 127.0.0.1:PORT for SECONDS seconds, from
PROCESSES processes, each with one connection of STREAMS concurrent streams at a time,
and each stream's fate counted as an HTTP/2 client must judge it (RFC 9113, 6.8 and 8.7):

- ok: answered 2xx; non2xx: answered otherwise;
- refused: a stream the server never took (above a GOAWAY's last stream, or reset with
  REFUSED_STREAM): safe to send again, and sent again on a new connection, as clients
  do. Not a failure;
- failed: a stream the server took (at or below a GOAWAY's last stream) that got no
  whole answer: reset, or its connection closed under it.

After a GOAWAY, no new stream is opened on the connection; once its last streams are
answered, a new connection is made. h2load cannot be the oracle here: it neither
reconnects after a GOAWAY nor tells a refused stream from a failed one.

Prints one line: `ok N non2xx N refused N failed N connections N`.

Usage: h2_streams.py PORT SECONDS PROCESSES STREAMS
"""

import multiprocessing
import socket
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hyperframe.frame

# How long any one read may wait before the connection is judged dead.
HANG = 60


def ended(in_flight, stream, counts):
    status = in_flight.pop(stream, None)
    counts["ok" if status and status.startswith(b"2") else "non2xx"] += 1


def refused_above(last, in_flight, counts):
    for stream in [s for s in in_flight if s > last]:
        del in_flight[stream]
        counts["refused"] += 1


def before_goaway(event, conn, in_flight, counts):
    """One of h2's events; `True` at a GOAWAY."""
    if isinstance(event, h2.events.ResponseReceived):
        in_flight[event.stream_id] = dict(event.headers).get(b":status", b"")
    elif isinstance(event, h2.events.DataReceived):
        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    elif isinstance(event, h2.events.StreamEnded):
        ended(in_flight, event.stream_id, counts)
    elif isinstance(event, h2.events.StreamReset) and event.stream_id in in_flight:
        del in_flight[event.stream_id]
        refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
        counts["refused" if refused else "failed"] += 1
    elif isinstance(event, h2.events.ConnectionTerminated):
        refused_above(event.last_stream_id, in_flight, counts)
        return True
    return False


def after_goaway(raw, conn, sock, in_flight, counts):
    """One frame after a GOAWAY, read here: answers, resets, further GOAWAYs, and the
    PING whose answer tells the server the last stream this client opened."""
    frame, _ = hyperframe.frame.Frame.parse_frame_header(memoryview(raw[:9]))
    frame.parse_body(memoryview(raw[9:]))
    stream = frame.stream_id
    if isinstance(frame, hyperframe.frame.HeadersFrame):
        # Decoded in order, so that HPACK's table stays the server's.
        fields = dict(conn.decoder.decode(frame.data, raw=True))
        if b":status" in fields and stream in in_flight:
            in_flight[stream] = fields[b":status"]
    elif isinstance(frame, hyperframe.frame.RstStreamFrame) and stream in in_flight:
        del in_flight[stream]
        counts["refused" if frame.error_code == 7 else "failed"] += 1
    elif isinstance(frame, hyperframe.frame.GoAwayFrame):
        refused_above(frame.last_stream_id, in_flight, counts)
    elif isinstance(frame, hyperframe.frame.PingFrame) and "ACK" not in frame.flags:
        pong = hyperframe.frame.PingFrame(0)
        pong.flags.add("ACK")
        pong.opaque_data = frame.opaque_data
        sock.sendall(pong.serialize())
    if "END_STREAM" in frame.flags and stream in in_flight:
        ended(in_flight, stream, counts)


def one_connection(port, streams, deadline, counts):
    """Streams on one connection until the deadline, or until it is told to go away and
    its last streams are over. Adds to counts; returns whether to go on."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
    except OSError:
        counts["connect_errors"] += 1
        time.sleep(0.01)
        return True
    counts["connections"] += 1
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    headers = [
        (":method", "GET"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", f"127.0.0.1:{port}"),
    ]
    in_flight = {}
    going_away = False

    def open_streams():
        while not going_away and len(in_flight) < streams and time.monotonic() < deadline:
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, headers, end_stream=True)
            in_flight[stream] = None

    open_streams()
    buffer = b""
    try:
        sock.sendall(conn.data_to_send())
        while in_flight:
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
            # Frame by frame: h2's state machine takes the first GOAWAY as the end,
            # while HTTP/2's graceful GOAWAY lets the streams in flight finish after
            # it, so from then on the frames are read here.
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                length = 9 + int.from_bytes(buffer[:3], "big")
                frame, buffer = buffer[:length], buffer[length:]
                if going_away:
                    after_goaway(frame, conn, sock, in_flight, counts)
                    continue
                for event in conn.receive_data(frame):
                    going_away |= before_goaway(event, conn, in_flight, counts)
            open_streams()
            if not going_away:
                sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    # Whatever is left was taken by the server and never answered whole.
    counts["failed"] += len(in_flight)
    sock.close()
    return time.monotonic() < deadline


def run(port, seconds, streams, queue):
    counts = dict.fromkeys(
        ["ok", "non2xx", "refused", "failed", "connections", "connect_errors"], 0
    )
    deadline = time.monotonic() + seconds
    while one_connection(port, streams, deadline, counts):
        pass
    queue.put(counts)


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    processes, streams = int(sys.argv[3]), int(sys.argv[4])
    queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=run, args=(port, seconds, streams, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    totals = {}
    for _ in workers:
        for key, value in queue.get().items():
            totals[key] = totals.get(key, 0) + value
    for worker in workers:
        worker.join()
    print(" ".join(f"{key} {value}" for key, value in totals.items()))


if __name__ == "__main__":
    main()
