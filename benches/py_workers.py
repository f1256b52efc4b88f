"""The oslo.service side of benches/workers.py: one idle service in worker processes
under ProcessLauncher. Each worker, once started, sends `started <pid>` to the datagram
socket named by BENCH_READY_SOCKET. The backend (eventlet or threading) is the first
argument; the rest is the command line (--config-file)."""

import os
import socket
import sys

from oslo_service import backend

backend.init_backend(backend.BackendType(sys.argv[1]))

from oslo_config import cfg  # noqa: E402
from oslo_service import service  # noqa: E402


class Idle(service.Service):
    def start(self):
        super().start()
        path = os.environ.get("BENCH_READY_SOCKET")
        if path:
            ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ready.sendto(b"started %d" % os.getpid(), path)
            ready.close()


opts = [cfg.IntOpt("workers", default=4)]
cfg.CONF.register_opts(opts, group="bench")
cfg.CONF(sys.argv[2:], project="bench")
service.launch(cfg.CONF, Idle(), workers=cfg.CONF.bench.workers).wait()
