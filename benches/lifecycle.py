"""Whole-process figures of an idle in-process service, ours (examples/hello, release
build) and oslo.service's (benches/py_hello.py, both backends), measured the same way in
one run: start until READY=1 on a systemd notify socket, resident memory of the process
and its children once ready, context switches per second while idle (every thread), and
SIGTERM (once the handler is installed) until exit. Prints medians over the runs, and the ratios.

    python3 benches/lifecycle.py RUST_BINARY PYTHON [RUNS]
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)
IDLE_SECONDS = 2.0


def field(pid, name):
    with open("/proc/%d/status" % pid) as status:
        return next(line.split()[1] for line in status if line.startswith(name + ":"))


def tree(pid):
    """`pid` and every process below it."""
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == pid:
                found.extend(tree(int(entry)))
    return found


def context_switches(pids):
    total = 0
    for pid in pids:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, task)) as status:
                for line in status:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    return total


def wait_for_sigterm_handler(pid, hang):
    """oslo.service notifies READY=1 before it installs its SIGTERM handler; a SIGTERM in
    between kills it outright. Wait until the handler is there, for both programs."""
    deadline = time.monotonic() + hang
    while not int(field(pid, "SigCgt"), 16) & SIGTERM_BIT:
        if time.monotonic() > deadline:
            raise TimeoutError("no SIGTERM handler in %d" % pid)
        time.sleep(0.001)


def measure(command, hang=120):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(path)
        notify.settimeout(hang)
        env = dict(os.environ, NOTIFY_SOCKET=path, PYTHONWARNINGS="ignore")
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            while not notify.recv(512).startswith(b"READY=1"):
                pass
            ready = time.monotonic() - started
            wait_for_sigterm_handler(process.pid, hang)
            processes = tree(process.pid)
            rss_kb = sum(int(field(pid, "VmRSS")) for pid in processes)
            before = context_switches(processes)
            time.sleep(IDLE_SECONDS)
            wakeups = (context_switches(processes) - before) / IDLE_SECONDS
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(hang)
            stop = time.monotonic() - stopping
            return ready, rss_kb, stop, process.returncode, len(processes), wakeups
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def report(name, command, runs):
    samples = [measure(command) for _ in range(runs)]
    ready = statistics.median(s[0] for s in samples)
    rss = statistics.median(s[1] for s in samples)
    stop = statistics.median(s[2] for s in samples)
    codes = sorted({s[3] for s in samples})
    processes = max(s[4] for s in samples)
    wakeups = statistics.median(s[5] for s in samples)
    print("%-28s ready %8.1f ms   rss %7.1f MB in %d process(es)   idle wake-ups %6.1f/s   sigterm->exit %9.1f ms   exit %s"
          % (name, ready * 1e3, rss / 1024, processes, wakeups, stop * 1e3, codes))
    return ready, rss, stop


def main():
    rust, python = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    here = os.path.dirname(os.path.abspath(__file__))
    conf = os.path.join(here, "..", "examples", "hello.conf")
    ours = report("oslo-service (Rust)", [rust, "--config-file", conf], runs)
    for backend in ("threading", "eventlet"):
        theirs = report("oslo.service (%s)" % backend,
                        [python, os.path.join(here, "py_hello.py"), backend], runs)
        print("%-28s ready %7.0fx         rss %6.1fx                                          sigterm->exit %7.0fx"
              % ("  ratio (theirs / ours)", theirs[0] / ours[0], theirs[1] / ours[1], theirs[2] / ours[2]))


if __name__ == "__main__":
    main()
