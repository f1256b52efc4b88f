"""oslo.service's periodic-task scheduler, measured the way benches/periodic.rs measures
ours: one task due at every tick among N tasks due in an hour; prints the median cost
of one run_periodic_tasks call."""

import statistics
import sys
import time

from oslo_config import cfg
from oslo_service import periodic_task


def noop(self, context):
    pass


def build(idle):
    conf = cfg.ConfigOpts()
    conf([])
    tasks = periodic_task.PeriodicTasks(conf)
    for index in range(idle):
        task = periodic_task.periodic_task(spacing=3600)(noop)
        task._periodic_name = "idle%d" % index
        tasks.add_periodic_task(task)
    due = periodic_task.periodic_task(spacing=1e-9, run_immediately=True)(noop)
    due._periodic_name = "due"
    tasks.add_periodic_task(due)
    return tasks


def median_ns(idle, rounds=30):
    tasks = build(idle)
    iters = max(1, 20000 // (idle + 1))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(iters):
            tasks.run_periodic_tasks(None)
        samples.append((time.perf_counter_ns() - start) / iters)
    return statistics.median(samples)


if __name__ == "__main__":
    for idle in [int(arg) for arg in sys.argv[1:]] or [0, 100, 10000]:
        print("python tick_with_one_due_task idle=%-6d median %12.1f ns" % (idle, median_ns(idle)))
