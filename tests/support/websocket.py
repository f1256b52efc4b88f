"""A WebSocket client driven by its test, one line at a time, with the `websockets`
library as the oracle. Connects to argv[1], then prints one JSON line per event:
{"open": true} or {"refused": "..."} first; then, for each line read on stdin,
`send TEXT` sends TEXT and prints {"echo": ANSWER}; `close` waits for the server to
close and prints {"closed": CODE, "reason": REASON}. Every wait is bounded, so a hang
shows as {"error": "..."} instead of a stuck test."""

import json
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

HANG = 30


def say(event):
    print(json.dumps(event), flush=True)


def serve(socket):
    for line in sys.stdin:
        command, _, text = line.rstrip("\n").partition(" ")
        if command == "send":
            socket.send(text)
            say({"echo": socket.recv(timeout=HANG)})
        elif command == "close":
            try:
                while True:
                    socket.recv(timeout=HANG)
            except ConnectionClosed as closed:
                frame = closed.rcvd
                say(
                    {
                        "closed": frame.code if frame else None,
                        "reason": frame.reason if frame else None,
                    }
                )
                return


try:
    opened = connect(sys.argv[1], open_timeout=HANG, close_timeout=HANG)
except Exception as error:  # the handshake's failure is the test's to judge
    say({"refused": f"{type(error).__name__}: {error}"})
    sys.exit(0)
say({"open": True})
try:
    with opened as socket:
        serve(socket)
except Exception as error:
    say({"error": f"{type(error).__name__}: {error}"})
    sys.exit(1)
