"""The oslo.service side of benches/http.sh: oslo.service's wsgi.Server (eventlet) in 2
worker processes (WORKERS) under ProcessLauncher, serving a trivial WSGI app that answers "ok".
Prints `port <n>` once bound. Logging is left unconfigured, so eventlet's access lines
(INFO) are not written, as ours are not in the bench."""

import os
import sys

from oslo_service import backend

backend.init_backend(backend.BackendType.EVENTLET)

from oslo_config import cfg  # noqa: E402
from oslo_service import service, wsgi  # noqa: E402


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


class Api(service.ServiceBase):
    def __init__(self, conf):
        self.server = wsgi.Server(conf, "bench", app, host="127.0.0.1", port=0)

    def start(self):
        self.server.start()

    def stop(self):
        self.server.stop()

    def wait(self):
        self.server.wait()

    def reset(self):
        self.server.reset()


cfg.CONF(sys.argv[1:], project="bench")
api = Api(cfg.CONF)
print("port %d" % api.server.port, flush=True)
workers = int(os.environ.get("WORKERS", "2"))
service.launch(cfg.CONF, api, workers=workers).wait()
