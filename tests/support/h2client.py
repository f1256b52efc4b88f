"""An HTTP/2 client on Python's h2, for tests/http2.rs: one scenario per run, given
on the command line, each event printed as one JSON line as it happens. Every wait is
bounded (HANG), so none hangs the test.

    h2client.py PORT request PATHS       a GET on one stream for each of PATHS (split
                                          at commas), their answers, then whatever the
                                          server sends until the connection closes
    h2client.py PORT rapid_reset COUNT   COUNT streams opened and reset at once
    h2client.py PORT continuation COUNT  a header block in COUNT CONTINUATION frames
    h2client.py PORT ping_flood COUNT    COUNT PINGs, never reading the answers
    h2client.py PORT settings_flood COUNT
                                          COUNT SETTINGS, never reading the ACKs
    h2client.py PORT settings_flood_read COUNT
                                          COUNT SETTINGS, reading the ACKs meanwhile
    h2client.py PORT stalled_body PATH   a POST whose body never comes
    h2client.py PORT slow_header_block PATH
                                          a GET of PATH in flight, then a header block
                                          that never ends: a CONTINUATION every 0.2 s
"""

import json
import select
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import hyperframe.frame

HANG = 30


def emit(**event):
    print(json.dumps(event), flush=True)


def connect(port, **settings):
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def headers(port, path, method="GET", end_stream=True):
    return [
        (":method", method),
        (":scheme", "http"),
        (":authority", f"127.0.0.1:{port}"),
        (":path", path),
    ]


def read_events(sock, conn):
    """Reads and reports frames until the connection closes. Frames are read here, not
    by h2's state machine, which takes the first GOAWAY as the end: HTTP/2's graceful
    GOAWAY lets the streams in flight finish after it."""
    buffer = b""
    bodies = {}
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as err:
            emit(event="closed", reason=str(err))
            return
        except socket.timeout:
            emit(event="timeout")
            return
        if not data:
            emit(event="closed", reason="eof")
            return
        buffer += data
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            frame, _ = hyperframe.frame.Frame.parse_frame_header(memoryview(buffer[:9]))
            frame.parse_body(memoryview(buffer[9 : 9 + length]))
            buffer = buffer[9 + length :]
            report(frame, conn, bodies, sock)
    emit(event="timeout")


def report(frame, conn, bodies, sock):
    stream = frame.stream_id
    if isinstance(frame, hyperframe.frame.HeadersFrame):
        fields = dict(conn.decoder.decode(frame.data))
        status = fields.get(b":status", fields.get(":status"))
        emit(event="response", stream=stream, status=int(status))
        bodies[stream] = b""
    elif isinstance(frame, hyperframe.frame.DataFrame):
        bodies[stream] = bodies.get(stream, b"") + frame.data
    elif isinstance(frame, hyperframe.frame.RstStreamFrame):
        emit(event="reset", stream=stream, code=frame.error_code)
    elif isinstance(frame, hyperframe.frame.GoAwayFrame):
        emit(event="goaway", code=frame.error_code, last_stream=frame.last_stream_id)
    elif isinstance(frame, hyperframe.frame.PingFrame) and "ACK" not in frame.flags:
        pong = hyperframe.frame.PingFrame(0)
        pong.flags.add("ACK")
        pong.opaque_data = frame.opaque_data
        try:
            sock.sendall(pong.serialize())
        except OSError:
            pass
    elif isinstance(frame, hyperframe.frame.SettingsFrame) and "ACK" not in frame.flags:
        ack = hyperframe.frame.SettingsFrame(0)
        ack.flags.add("ACK")
        try:
            sock.sendall(ack.serialize())
        except OSError:
            pass
    if "END_STREAM" in frame.flags and stream in bodies:
        body = bodies.pop(stream).decode("utf-8", "replace")
        emit(event="ended", stream=stream, body=body)


def request(port, paths):
    sock, conn = connect(port)
    streams = []
    for index, path in enumerate(paths.split(",")):
        stream = 1 + 2 * index
        conn.send_headers(stream, headers(port, path), end_stream=True)
        streams.append(stream)
    sock.sendall(conn.data_to_send())
    emit(event="sent", streams=streams)
    read_events(sock, conn)


def rapid_reset(port, count):
    sock, conn = connect(port)
    stream = 1
    out = bytearray()
    for _ in range(count):
        conn.send_headers(stream, headers(port, "/v1/whoami"), end_stream=True)
        conn.reset_stream(stream)
        out += conn.data_to_send()
        stream += 2
    try:
        sock.sendall(out)
    except OSError as err:
        emit(event="closed", reason=str(err))
        return
    emit(event="sent", streams=count)
    read_events(sock, conn)


def continuation(port, count):
    """A HEADERS frame without END_HEADERS, then CONTINUATION frames that each carry
    one more header field, written as raw frames (h2 itself would not send them)."""
    sock, conn = connect(port)
    encoder = conn.encoder
    first = encoder.encode(headers(port, "/v1/whoami"))
    frame = hyperframe.frame.HeadersFrame(1)
    frame.flags.add("END_STREAM")
    frame.data = first
    out = bytearray(frame.serialize())
    for index in range(count):
        more = hyperframe.frame.ContinuationFrame(1)
        more.data = encoder.encode([(f"x-flood-{index}", "v" * 32)])
        out += more.serialize()
    try:
        sock.sendall(out)
    except OSError as err:
        emit(event="closed", reason=str(err))
        return
    emit(event="sent", frames=count)
    read_events(sock, conn)


def ping_flood(port, count):
    """PINGs as fast as the socket takes them, their answers never read: the server
    must stop reading, not buffer answers without end."""
    sock, conn = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ping = hyperframe.frame.PingFrame(0)
    ping.opaque_data = b"12345678"
    chunk = bytes(ping.serialize()) * 1000
    sent = 0
    sock.settimeout(HANG)
    try:
        while sent < count:
            sock.sendall(chunk)
            sent += 1000
        emit(event="all_sent", pings=sent)
    except socket.timeout:
        # The server stopped reading: its answers are not read here.
        emit(event="blocked", pings=sent)
    except OSError as err:
        emit(event="closed", pings=sent, reason=str(err))
        return
    # Wait for the server to give up on this client.
    sock.settimeout(HANG)
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
        except socket.timeout:
            continue
        except OSError as err:
            emit(event="closed", pings=sent, reason=str(err))
            return
        sent += 1000
    emit(event="timeout")


def flood(sock, frame, count):
    """Sends `frame` COUNT times as fast as the socket takes it, then on until the
    server gives up on this client. Frames go out whole: a send cut short by the
    timeout goes on where it stopped, so the server never sees a torn frame."""
    chunk = memoryview(bytes(frame.serialize()) * 1000)
    offset = 0
    sent = 0
    sock.settimeout(HANG)
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        try:
            offset += sock.send(chunk[offset:])
        except socket.timeout:
            # The server stopped reading: go on waiting for it to give up.
            continue
        except OSError as err:
            emit(event="closed", frames=sent, reason=str(err))
            return
        if offset < len(chunk):
            continue
        offset = 0
        sent += 1000
        if sent == count:
            emit(event="all_sent", frames=sent)
    emit(event="timeout", frames=sent)


def settings_flood(port, count):
    """SETTINGS as fast as the socket takes them, their ACKs never read: the server
    must stop reading, not queue ACKs without end."""
    sock, _ = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    settings = hyperframe.frame.SettingsFrame(0)
    settings.settings[hyperframe.frame.SettingsFrame.INITIAL_WINDOW_SIZE] = 65535
    flood(sock, settings, count)


def settings_flood_read(port, count):
    """SETTINGS as fast as the socket takes them, their ACKs read (and counted) by a
    thread of their own."""
    sock, _ = connect(port)
    acks = [0]

    def drain():
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            acks[0] += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    settings = hyperframe.frame.SettingsFrame(0)
    settings.settings[hyperframe.frame.SettingsFrame.INITIAL_WINDOW_SIZE] = 65535
    flood(sock, settings, count)
    emit(event="read", bytes=acks[0])


def stalled_body(port, path):
    sock, conn = connect(port)
    conn.send_headers(1, headers(port, path, method="POST"), end_stream=False)
    sock.sendall(conn.data_to_send())
    emit(event="sent", stream=1)
    read_events(sock, conn)


def slow_header_block(port, path):
    sock, conn = connect(port)
    conn.send_headers(1, headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    emit(event="sent", stream=1)
    opening = hyperframe.frame.HeadersFrame(3)
    opening.data = conn.encoder.encode(headers(port, "/v1/whoami"))
    opening.flags.add("END_STREAM")
    sock.sendall(opening.serialize())
    emit(event="block_opened", stream=3)
    frames = 0
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        more = hyperframe.frame.ContinuationFrame(3)
        more.data = b""
        try:
            sock.sendall(more.serialize())
        except OSError as err:
            emit(event="closed", frames=frames, reason=str(err))
            return
        frames += 1
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                data = sock.recv(65536)
            except OSError as err:
                emit(event="closed", frames=frames, reason=str(err))
                return
            if not data:
                emit(event="closed", frames=frames, reason="eof")
                return
    emit(event="timeout", frames=frames)


def main():
    port = int(sys.argv[1])
    scenario = sys.argv[2]
    argument = sys.argv[3] if len(sys.argv) > 3 else ""
    if scenario == "request":
        request(port, argument)
    elif scenario == "rapid_reset":
        rapid_reset(port, int(argument))
    elif scenario == "continuation":
        continuation(port, int(argument))
    elif scenario == "ping_flood":
        ping_flood(port, int(argument))
    elif scenario == "settings_flood":
        settings_flood(port, int(argument))
    elif scenario == "settings_flood_read":
        settings_flood_read(port, int(argument))
    elif scenario == "stalled_body":
        stalled_body(port, argument)
    elif scenario == "slow_header_block":
        slow_header_block(port, argument)
    else:
        sys.exit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
