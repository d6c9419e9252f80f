#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Every module of the daemon has a test named for it (issue 10).

    modules.py BUILD_DIR

A module is a file daemon/M.c. Its test is tests/unit/test-M.c or
tests/umockdev/test-M.c, or else the file tests/modules.map names for it:

    M: tests/unit/test-family.c  # why this test is M's

(a module tested with its family, or one that needs the real libusb and
libudev and is tested under umockdev); the reason after '#' is required.

The rule, for each module M and its test file T:

  - T exists and is registered: its name is in tests/meson.build or
    tests/umockdev/meson.build;
  - T reaches M: outside comments, T names (as a whole word) a global
    symbol defined by M's object file (nm); or, for a module linked only
    into the clusterboot executable (daemon/clusterboot.p), T runs that
    executable: it reads getenv("CLUSTERBOOT").
  - A mapped test may also reach M one call further away: it names a global
    symbol of a module that calls M directly (control-methods below
    control), or it runs the executable and one of the executable's own
    modules calls M directly (boot-history.c, which only main.c calls).

A module's own test file that does not reach it may be completed by a map
entry; an entry for a module whose own test reaches it, or for a module
with no source, is refused. It fails listing every module without a test.
"""
import collections
import glob
import os
import re
import subprocess
import sys

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DIRS = ("tests/unit", "tests/umockdev")
MESON_FILES = ("tests/meson.build", "tests/umockdev/meson.build")
RUNS_DAEMON = 'getenv("CLUSTERBOOT")'


def nm(*args):
    out = subprocess.run(["nm", *args], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def read(path):
    with open(os.path.join(SOURCE, path), encoding="utf-8") as f:
        return f.read()


def strip_comments(text):
    """C text without its comments (string literals kept; good enough for a test's source)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def load_map(path):
    entries, problems = {}, []
    for lineno, line in enumerate(read(path).splitlines(), 1):
        body, _, why = line.partition("#")
        if not body.strip():
            continue
        module, sep, test = body.partition(":")
        module, test = module.strip(), test.strip()
        if not sep or not module or not test or " " in test:
            problems.append(f"{path}:{lineno}: not 'module: tests/.../test-x.c  # why'")
        elif not why.strip():
            problems.append(f"{path}:{lineno}: {module}: say why {test} is its test (after '#')")
        elif module in entries:
            problems.append(f"{path}:{lineno}: {module} is mapped twice")
        else:
            entries[module] = (test, lineno)
    return entries, problems


def main():
    build = sys.argv[1]
    modules = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(SOURCE, "daemon", "*.c")))
    objs = glob.glob(os.path.join(build, "daemon", "**", "*.c.o"), recursive=True)
    if not objs:
        print(f"modules: no object files under {build}/daemon")
        return 2

    defined, executable_only, owner = collections.defaultdict(set), set(), {}
    wanted = collections.defaultdict(set)
    name_of = {obj: os.path.basename(obj)[: -len(".c.o")] for obj in objs}
    executable_only = {name_of[o] for o in objs if os.path.basename(os.path.dirname(o)) == "clusterboot.p"}
    # one nm for all the files (-A: each line starts with "FILE:")
    for line in nm(*objs, "-A", "--defined-only", "-g"):
        if len(line) == 3 and line[1] in "TDBRCV" and line[2] != "main":
            name = name_of[line[0].rsplit(":", 1)[0]]
            defined[name].add(line[2])
            owner.setdefault(line[2], name)
    for line in nm(*objs, "-A", "-u"):
        wanted[name_of[line[0].rsplit(":", 1)[0]]].add(line[-1])
    # the modules that call each module directly
    callers = collections.defaultdict(set)
    for name, syms in wanted.items():
        for sym in syms:
            if owner.get(sym, name) != name:
                callers[owner[sym]].add(name)

    mapped, problems = load_map("tests/modules.map")
    registered = "\n".join(read(p) for p in MESON_FILES)
    missing = []
    def reaches(module, test, via_caller):
        """None if `test` reaches `module` by the rule above, else what it would have to name."""
        text = strip_comments(read(test))
        words = set(re.findall(r"\b\w+\b", text))
        if defined[module] & words:
            return None
        above = callers[module] if via_caller else set()
        if any(defined[c] & words for c in above):
            return None
        if RUNS_DAEMON in text and (module in executable_only or above & executable_only):
            return None
        how = ["one of its symbols (" + ", ".join(sorted(defined[module])[:4]) + ")" if defined[module] else None,
               "a symbol of a module that calls it (" + ", ".join(sorted(above)) + ")" if above else None,
               "runs the daemon (" + RUNS_DAEMON + ")" if module in executable_only else None]
        return f"{test} neither names " + " nor ".join(h for h in how if h)

    for module in modules:
        own = [f"{d}/test-{module}.c" for d in TEST_DIRS if os.path.exists(os.path.join(SOURCE, d, f"test-{module}.c"))]
        candidates = [(t, False) for t in own]
        if module in mapped:
            candidates.append((mapped[module][0], True))
        if not candidates:
            missing.append(f"{module}: no tests/unit/test-{module}.c, tests/umockdev/test-{module}.c "
                           "or tests/modules.map entry")
            continue
        why_not = []
        for test, via_caller in candidates:
            if not os.path.exists(os.path.join(SOURCE, test)):
                why_not.append(f"{test} does not exist")
            elif os.path.basename(test) not in registered:
                why_not.append(f"{test} is not registered in {' or '.join(MESON_FILES)}")
            else:
                why_not.append(reaches(module, test, via_caller))
        if module in mapped and own and why_not[0] is None:
            problems.append(f"tests/modules.map:{mapped[module][1]}: {module} has its own test {own[0]}: "
                            "drop the entry")
        if None not in why_not:
            missing.append(f"{module}: " + "; ".join(why_not))
    for module in sorted(set(mapped) - set(modules)):
        problems.append(f"tests/modules.map:{mapped[module][1]}: no daemon/{module}.c")

    for line in problems + missing:
        print("modules: " + line)
    if problems or missing:
        print(f"modules: {len(missing)} of {len(modules)} daemon modules without a test that names them")
        return 1
    print(f"modules: every one of the {len(modules)} daemon modules has a test that names it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
