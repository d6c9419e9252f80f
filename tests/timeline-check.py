#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads a `clusterbootctl timeline` SVG back and compares it with the history
it was drawn from (`history --json`): well-formed XML, one row per node, one
lane per boot in order, per boot its bars (state, attempt, offset, length,
laid end to end on one scale), attempt lines, fault marks (attempt, state,
reason, recovered), reset and power-cycle marks.

usage: timeline-check.py SVG HISTORY_JSON [--last N] [--since USEC] [--now USEC]
Exits 0 when they match, 1 with the differences.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
LEFT, PLOT = 170, 1100 - 170 - 190

args = sys.argv[1:]
svg_path, json_path = args[0], args[1]
opts = dict(zip(args[2::2], args[3::2]))
last = int(opts.get("--last", 0))
since = int(opts.get("--since", 0))
now = int(opts.get("--now", 0))
problems = []


def problem(text):
    problems.append(text)


def natural_key(s):
    return [(0, int(p), len(p)) if p.isdigit() else (1, p, 0) for p in re.split(r"(\d+)", s) if p]


def end_of(b):
    if b.get("end_usec") is not None:
        return b["end_usec"]
    if now:
        return now
    return b["start_usec"] + (b["stages"][-1]["offset_usec"] if b["stages"] else 0)


history = json.load(open(json_path))["boots"]
try:
    root = ET.parse(svg_path).getroot()
except ET.ParseError as e:
    sys.exit(f"FAIL: {svg_path} is not well-formed XML: {e}")
if root.tag != NS + "svg":
    sys.exit(f"FAIL: the root element is {root.tag}, not an SVG <svg>")

# the same selection, independently: since, then each node's newest `last`
chosen = [b for b in history if b["start_usec"] >= since]
by_node = {}
for b in sorted(chosen, key=lambda b: b["start_usec"]):
    by_node.setdefault(b["node"], []).append(b)
if last:
    by_node = {n: bs[-last:] for n, bs in by_node.items()}
expected_nodes = sorted(by_node, key=natural_key)

rows = [g for g in root.iter(NS + "g") if g.get("class") == "node"]
got_nodes = [g.get("data-node") for g in rows]
if got_nodes != expected_nodes:
    problem(f"rows {got_nodes}, expected {expected_nodes}")
if root.get("data-boots") != str(sum(len(v) for v in by_node.values())):
    problem(f"data-boots {root.get('data-boots')}")

axis = [g for g in root.iter(NS + "g") if g.get("class") == "axis"]
axis_max = int(axis[0].get("data-axis-max-usec")) if axis else 0
if not axis or axis_max <= 0:
    problem("no time axis")
longest = max((end_of(b) - b["start_usec"] for bs in by_node.values() for b in bs), default=0)
if axis and longest > axis_max:
    problem(f"the axis ends at {axis_max} us, before the longest boot ({longest} us)")


def x_of(usec):
    return LEFT + PLOT * usec / axis_max


def near(a, b):
    return abs(a - b) < 0.01


for row in rows:
    node = row.get("data-node")
    lanes = [g for g in row if g.tag == NS + "g" and g.get("class") == "boot"]
    boots = by_node.get(node, [])
    if len(lanes) != len(boots):
        problem(f"{node}: {len(lanes)} lanes, {len(boots)} boots")
        continue
    for lane, b in zip(lanes, boots):
        where = f"{node} boot at {b['start_usec']}"
        if int(lane.get("data-start-usec")) != b["start_usec"]:
            problem(f"{where}: starts at {lane.get('data-start-usec')}")
        if int(lane.get("data-end-usec")) != end_of(b):
            problem(f"{where}: ends at {lane.get('data-end-usec')}, expected {end_of(b)}")
        if lane.get("data-outcome") != (b["outcome"] or "running"):
            problem(f"{where}: outcome {lane.get('data-outcome')}, expected {b['outcome']}")
        if int(lane.get("data-attempts")) != b["attempts"]:
            problem(f"{where}: {lane.get('data-attempts')} attempts, expected {b['attempts']}")

        bars = [e for e in lane if e.get("class") == "stage"]
        got = [(e.get("data-state"), int(e.get("data-attempt")), int(e.get("data-offset-usec"))) for e in bars]
        want = [(s["state"], s["attempt"], s["offset_usec"]) for s in b["stages"]]
        if got != want:
            problem(f"{where}: bars {got}, stages {want}")
        length = end_of(b) - b["start_usec"]
        for i, e in enumerate(bars):
            x, w, usec = float(e.get("x")), float(e.get("width")), int(e.get("data-usec"))
            nxt = b["stages"][i + 1]["offset_usec"] if i + 1 < len(b["stages"]) else length
            if usec != nxt - b["stages"][i]["offset_usec"]:
                problem(f"{where}: bar {i} lasts {usec} us, expected {nxt - b['stages'][i]['offset_usec']}")
            if not near(x, x_of(b["stages"][i]["offset_usec"])) or not near(x + w, x_of(nxt)):
                problem(f"{where}: bar {i} at {x}+{w}, not on the axis's scale")
            if i > 0 and not near(x, float(bars[i - 1].get("x")) + float(bars[i - 1].get("width"))):
                problem(f"{where}: bar {i} does not follow bar {i - 1}")

        starts = sum(1 for a, c in zip(b["stages"], b["stages"][1:]) if c["attempt"] > a["attempt"])
        lines = [e for e in lane if e.get("class") == "attempt"]
        if len(lines) != starts:
            problem(f"{where}: {len(lines)} attempt lines, {starts} attempts started")

        marks = [e for e in lane if e.get("class") == "fault"]
        if len(marks) != len(b["faults"]):
            problem(f"{where}: {len(marks)} fault marks, {len(b['faults'])} faults")
        for m, f in zip(marks, b["faults"]):
            title = m.find(NS + "title")
            if (int(m.get("data-attempt")), m.get("data-state"), int(m.get("data-offset-usec"))) != (
                    f["attempt"], f["state"], f["offset_usec"]):
                problem(f"{where}: fault mark {m.attrib}, fault {f}")
            if m.get("data-recovered") != ("true" if f["recovered"] else "false"):
                problem(f"{where}: fault recovered {m.get('data-recovered')}")
            if title is None or f["reason"] not in title.text:
                problem(f"{where}: the fault's tooltip does not say {f['reason']!r}")
        for kind in ("reset", "power-cycle"):
            want_n = sum(1 for f in b["faults"] for s in f["steps"] if s["action"] == kind)
            got_n = sum(1 for e in lane if e.get("class") == kind)
            if got_n != want_n:
                problem(f"{where}: {got_n} {kind} marks, {want_n} in the history")

if problems:
    print("\n".join("FAIL: " + p for p in problems))
    sys.exit(1)
print(f"timeline-check: {len(rows)} rows, {sum(len(v) for v in by_node.values())} boots match the history")
