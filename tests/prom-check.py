#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Reads Prometheus text format on stdin with the reference parser
# (prometheus_client): fails on anything it refuses, and on a family
# declared twice or a sample without HELP/TYPE; prints each sample as
#   name{label="value",...} value
# with labels sorted, for tests to compare.
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
seen = set()
try:
    for family in text_string_to_metric_families(text):
        if family.name in seen:
            sys.exit(f"family {family.name} declared twice")
        seen.add(family.name)
        if family.type == "unknown" or not family.documentation:
            sys.exit(f"family {family.name} has no TYPE or HELP")
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            print(f"{s.name}{{{labels}}} {s.value:g}")
except ValueError as e:
    sys.exit(f"not the Prometheus text format: {e}")
