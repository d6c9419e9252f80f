#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's files call each other in layers: no cycle.

    layering.py BUILD_DIR

Reads every object file of the daemon in BUILD_DIR (its sources are
daemon/*.c), resolves each one's undefined symbols against the others'
definitions (nm), and fails, naming the calls, if the files that call each
other form a cycle: a cycle is two concerns that can only be changed together.
"""
import collections
import glob
import os
import subprocess
import sys


def symbols(obj, *flags):
    out = subprocess.run(["nm", *flags, obj], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def cycles(graph):
    """Strongly connected components of more than one file (Tarjan, iteratively)."""
    index, low, on, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def main():
    build = sys.argv[1]
    objs = sorted(o for o in glob.glob(os.path.join(build, "daemon", "**", "*.o"), recursive=True))
    if not objs:
        print(f"layering: no object files under {build}/daemon")
        return 2
    defined, wanted = {}, collections.defaultdict(set)
    for obj in objs:
        name = os.path.basename(obj).removesuffix(".o").removesuffix(".c")
        for f in symbols(obj, "--defined-only", "-g"):
            if len(f) == 3 and f[1] in "TDBRCV":
                defined.setdefault(f[2], name)
        for f in symbols(obj, "-u"):
            wanted[name].add(f[-1])
    graph = collections.defaultdict(set)
    calls = collections.defaultdict(list)
    for name, syms in wanted.items():
        graph[name]
        for sym in sorted(syms):
            owner = defined.get(sym)
            if owner and owner != name:
                graph[name].add(owner)
                calls[(name, owner)].append(sym)
    found = cycles(graph)
    if not found:
        print(f"layering: {len(graph)} files of the daemon, no call cycle")
        return 0
    for comp in found:
        print("layering: these files call each other in a cycle: " + ", ".join(comp))
        members = set(comp)
        for (a, b), syms in sorted(calls.items()):
            if a in members and b in members:
                print(f"  {a} -> {b}: {', '.join(syms)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
