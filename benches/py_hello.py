"""The smallest oslo.service service, for benches/lifecycle.py: one in-process service
under ServiceLauncher. The backend (eventlet or threading) is the first argument."""

import sys

from oslo_service import backend

backend.init_backend(backend.BackendType(sys.argv[1]))

from oslo_config import cfg  # noqa: E402
from oslo_service import service  # noqa: E402


class Hello(service.Service):
    pass


cfg.CONF(sys.argv[2:], project="hello")
service.launch(cfg.CONF, Hello(), workers=1).wait()
