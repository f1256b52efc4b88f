"""Reads an OpenMetrics exposition on stdin with prometheus_client's strict parser and
prints its samples as JSON: [{"name", "labels", "value"}]. A malformed exposition
raises, and the test sees the parser's error."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append(
            {"name": sample.name, "labels": sample.labels, "value": sample.value}
        )
json.dump(samples, sys.stdout)
