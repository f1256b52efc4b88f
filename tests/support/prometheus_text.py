"""Reads an exposition in the Prometheus text format 0.0.4 on stdin with
prometheus_client's parser of that format and prints its families as JSON:
[{"name", "type", "samples": [{"name", "labels", "value"}]}]. A malformed exposition
raises, and the test sees the parser's error."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(value):
    # JSON has no infinities nor NaN: they travel as the text format writes them.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append(
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": number(s.value)}
                for s in family.samples
            ],
        }
    )
json.dump(families, sys.stdout)
