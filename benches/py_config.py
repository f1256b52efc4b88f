"""The oslo.config side of benches/config.sh: parses a configuration file as a service
starts (ConfigOpts(['--config-file', FILE])), then reloads it as a SIGHUP does
(reload_config_files), RUNS times each; prints the median of each in milliseconds.

    python benches/py_config.py FILE [RUNS]
"""

import statistics
import sys
import time

from oslo_config import cfg


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    loads, reloads = [], []
    for _ in range(runs):
        started = time.perf_counter()
        conf = cfg.ConfigOpts()
        conf(["--config-file", path], project="bench")
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        conf.reload_config_files()
        reloads.append(time.perf_counter() - started)
    print("%.2f %.2f" % (statistics.median(loads) * 1e3, statistics.median(reloads) * 1e3))


if __name__ == "__main__":
    main()
