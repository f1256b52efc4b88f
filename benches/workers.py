"""Whole-process figures of an idle service in 4 worker processes, ours
(benches/bench_workers.rs, release build) and oslo.service's (benches/py_workers.py,
both backends), measured the same way in one run. Each worker says `started <pid>` on a
datagram socket once its service has started; the figures:

- ready: start until every worker has said so;
- memory once ready: the parent's RSS, and per worker (mean) RSS, PSS and private memory
  from /proc/PID/smaps_rollup (RSS counts the shared executable and libraries in every
  worker; PSS divides shared pages among their users; private is the worker's alone);
- reload: SIGHUP until a whole new generation has said it started;
- replace: SIGKILL of one worker until its replacement has said it started;
- stop: SIGTERM until the parent and every worker have exited.

Prints medians over the runs, and the ratios theirs / ours (for each Rust binary, when
more are named as NAME=BINARY after RUNS).

    python3 benches/workers.py RUST_BINARY PYTHON [RUNS [NAME=BINARY...]]
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from lifecycle import tree, wait_for_sigterm_handler

WORKERS = 4
HANG = 120


def smaps(pid):
    """RSS, PSS and private memory of `pid` in kB."""
    fields = {}
    with open("/proc/%d/smaps_rollup" % pid) as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields["Rss"], fields["Pss"], private


class Run:
    def __init__(self, command, tmp):
        self.path = os.path.join(tmp, "ready")
        self.ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ready.bind(self.path)
        env = dict(os.environ, BENCH_READY_SOCKET=self.path, PYTHONWARNINGS="ignore")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.seen = set()

    def wait_started(self, count, timeout=HANG):
        """The pids of `count` workers never seen before, once all have said so; None
        past the timeout."""
        fresh = []
        deadline = time.monotonic() + timeout
        while len(fresh) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.ready.settimeout(left)
            try:
                message = self.ready.recv(512).decode()
            except socket.timeout:
                return None
            pid = int(message.split()[1])
            if pid not in self.seen:
                self.seen.add(pid)
                fresh.append(pid)
        return fresh

    def close(self):
        if self.process.poll() is None:
            for pid in tree(self.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()
        self.ready.close()


def gone(pids, timeout=HANG):
    deadline = time.monotonic() + timeout
    while any(os.path.exists("/proc/%d" % pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def measure(command):
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(command, tmp)
        try:
            workers = run.wait_started(WORKERS)
            if workers is None:
                raise TimeoutError("workers of %s never all started" % command)
            ready = time.monotonic() - run.started
            parent = run.process.pid
            wait_for_sigterm_handler(parent, HANG)
            parent_rss = smaps(parent)[0]
            per_worker = [smaps(pid) for pid in workers]
            rss, pss, private = (statistics.mean(m[i] for m in per_worker) for i in range(3))

            reloading = time.monotonic()
            os.kill(parent, signal.SIGHUP)
            generation = run.wait_started(WORKERS, timeout=30)
            reload = None if generation is None else time.monotonic() - reloading
            if generation is not None:
                gone(set(workers) - set(generation), timeout=30)
                workers = generation

            victim = workers[0]
            killing = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            replacement = run.wait_started(1, timeout=30)
            replace = None if replacement is None else time.monotonic() - killing

            everyone = tree(parent)
            wait_for_sigterm_handler(parent, HANG)
            stopping = time.monotonic()
            os.kill(parent, signal.SIGTERM)
            run.process.wait(HANG)
            gone(everyone)
            stop = time.monotonic() - stopping
            return dict(ready=ready, parent_rss=parent_rss, rss=rss, pss=pss,
                        private=private, reload=reload, replace=replace, stop=stop,
                        exit=run.process.returncode)
        finally:
            run.close()


def median(samples, key):
    values = [s[key] for s in samples if s[key] is not None]
    return statistics.median(values) if values else None


def show(value, unit, scale=1.0, width=8, digits=1):
    if value is None:
        return "%*s %s" % (width, "n/a", unit)
    return "%*.*f %s" % (width, digits, value * scale, unit)


def report(name, command, runs):
    samples = [measure(command) for _ in range(runs)]
    figures = {key: median(samples, key) for key in samples[0] if key != "exit"}
    exits = sorted({s["exit"] for s in samples})
    print("%-30s ready %s  parent rss %s  per worker: rss %s pss %s private %s  "
          "SIGHUP->new generation %s  SIGKILL->replacement %s  SIGTERM->all exited %s  exit %s"
          % (name, show(figures["ready"], "ms", 1e3), show(figures["parent_rss"], "MB", 1 / 1024, 5, 2),
             show(figures["rss"], "MB", 1 / 1024, 5, 2), show(figures["pss"], "MB", 1 / 1024, 5, 2),
             show(figures["private"], "MB", 1 / 1024, 5, 2), show(figures["reload"], "ms", 1e3),
             show(figures["replace"], "ms", 1e3), show(figures["stop"], "ms", 1e3), exits))
    return figures


def ratio(theirs, ours, key):
    if theirs[key] is None or ours[key] is None:
        return "n/a"
    return "%.1fx" % (theirs[key] / ours[key])


def main():
    rust, python = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rusts = [("Rust", rust)] + [tuple(arg.split("=", 1)) for arg in sys.argv[4:]]
    here = os.path.dirname(os.path.abspath(__file__))
    conf = os.path.join(here, "bench_workers.conf")
    ours = [(name, report("oslo-service (%s)" % name, [binary, "--config-file", conf], runs))
            for name, binary in rusts]
    for backend in ("threading", "eventlet"):
        theirs = report("oslo.service (%s)" % backend,
                        [python, os.path.join(here, "py_workers.py"), backend,
                         "--config-file", conf], runs)
        for name, figures in ours:
            print("  theirs / %s: " % name + ", ".join(
                "%s %s" % (key, ratio(theirs, figures, key))
                for key in ("ready", "parent_rss", "rss", "pss", "private", "reload", "replace",
                            "stop")))


if __name__ == "__main__":
    main()
