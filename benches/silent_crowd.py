"""Opens N connections to 127.0.0.1:PORT and sends nothing on them: the attack of
benches/hostile.sh. Prints `open <n>` once they are all connected, then holds them
until it is killed."""

import socket
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
crowd = []
for _ in range(count):
    try:
        crowd.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        # The server's backlog is full: what got in is the attack.
        break
print("open %d" % len(crowd), flush=True)
while True:
    time.sleep(3600)
