"""The failover figure of benches/cluster.sh: three `cluster` hosts (release build) on
the etcd at URL; ROUNDS times, the host that ran the latest period of the cluster task
is SIGKILLed and the time until a survivor runs a later period is measured; the killed
host is started again before the next round. Prints the median, min and max in ms.

    python3 benches/cluster_failover.py BINARY ETCD_URL [ROUNDS]
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

RUN = re.compile(r"cluster task ran: purged expired rows period=(\d+)")


def start(binary, url, member, directory):
    conf = os.path.join(directory, member + ".conf")
    with open(conf, "w") as f:
        f.write(
            "[DEFAULT]\ngraceful_shutdown_timeout = 10\n[coordination]\n"
            "backend_url = %s\nmember_id = %s\nheartbeat = 500ms\nlease_ttl = 3s\n" % (url, member)
        )
    log = open(os.path.join(directory, member + ".log"), "a")
    return subprocess.Popen([binary, "--config-file", conf], stdout=subprocess.DEVNULL, stderr=log)


def runs(directory, members):
    """{period: member} of every run logged so far."""
    found = {}
    for member in members:
        with open(os.path.join(directory, member + ".log")) as f:
            for match in RUN.finditer(f.read()):
                found[int(match.group(1))] = member
    return found


def main():
    binary, url = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    members = ["a", "b", "c"]
    directory = tempfile.mkdtemp()
    hosts = {m: start(binary, url, m, directory) for m in members}
    time.sleep(3)
    took = []
    try:
        for _ in range(rounds):
            seen = runs(directory, members)
            last = max(seen)
            victim = seen[last]
            hosts[victim].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            hosts[victim].wait()
            survivors = [m for m in members if m != victim]
            while True:
                later = [p for p in runs(directory, survivors) if p > last]
                if later:
                    took.append((time.monotonic() - killed) * 1e3)
                    break
                if time.monotonic() - killed > 30:
                    raise SystemExit("no survivor ran the task within 30 s")
                time.sleep(0.005)
            hosts[victim] = start(binary, url, victim, directory)
            time.sleep(2.5)
    finally:
        for host in hosts.values():
            host.send_signal(signal.SIGTERM)
        for host in hosts.values():
            host.wait()
    print("%.0f %.0f %.0f" % (statistics.median(took), min(took), max(took)))


if __name__ == "__main__":
    main()
