#!/usr/bin/env python3
"""Includes point only downward: the layer check.

Each top-level folder of the server is one layer, and a file includes only
files of its own layer or of the layers below it (docs/ARCHITECTURE.md,
"Layers"). This script reads every `#include "..."` line of the C, C++ and
assembly sources under the repository and fails, naming file:line and both
layers, on one that points upward. LAYERS and OUTSIDE below are the one
allowed-list; EXCEPTIONS is the place for a deliberate breach, and is empty.

How an include is placed, as the compiler finds it (quoted includes search
the including file's folder first, then meson's include directories: the
root and include/):
  - "config.h" and "greenicorn.h", "greenicorn/*.h" are include/: the
    first is meson's generated build configuration, the others the ABI;
  - a path beside the including file, then one from the root, then one
    under include/, is the layer of the folder it lives in;
  - in contrib/ and tests/, which add include directories of their own, a
    path found anywhere under the file's own folder is that folder's.
An include the script cannot place fails too: a new folder must be given
a row before anything may include it. So must a folder that holds sources.
An angle include (<...>) is a system or public header and is read only
when it names a file of the tree from the root (<green/coro.h>): <net/if.h>
is the system's, not net/'s.

The prose must say the same: where the tree has docs/ARCHITECTURE.md, its
"Layers" table must list LAYERS' folders in this order, each row's "may
include" column naming what allowed() lets it include ("itself" for the
first, then "the above" or the folders below, each), and the paragraph
after it must name each folder of OUTSIDE.

    python3 tests/layers/check_layers.py [--root DIR]
    python3 tests/layers/check_layers.py --self-test
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The layers, bottom up: a folder may include its own files and those of
# the folders before it in this list. net/ and http/ may not exist yet.
LAYERS = [
    ("include", "the plugin ABI: greenicorn.h over greenicorn/*.h"),
    ("core", "clock, logging, syslog, process title, privileges, sockets"),
    ("config", "INI loading, the settings table, apps and mounts"),
    ("green", "coroutines, the loop, park/wake, green I/O, sync, DNS, sys"),
    ("patch", "patch_all: libc's blocking calls, interposed"),
    ("net", "a connection: life, readiness, timers, buffers, transport"),
    ("http", "HTTP/1.1 over a connection"),
    ("websocket", "RFC 6455 over an upgraded connection"),
    ("socketio", "Engine.IO 4 and Socket.IO 5: codecs, sessions, transports"),
    ("plugins", "the one loader, app sets, hook dispatch"),
    ("workers", "the worker process"),
    ("server", "the arbiter"),
]

# Folders beside the layers, and which layers they may include besides
# their own files. None: anything.
OUTSIDE = {
    "contrib": ("include",),  # apps, hooks, libraries: plugins see the ABI only
    "tests": None,  # tests reach into any layer to test it
    "bench": ("include",),  # the load generator, and bench apps: plugins
}

# (file, included path) pairs allowed although they point upward. Keep
# empty: a breach is fixed by moving code down, not by listing it here.
EXCEPTIONS = []

# Headers that count as include/ wherever they are found.
ABI_HEADERS = re.compile(r"^(config\.h|greenicorn\.h|greenicorn/[^/]+\.h)$")
SOURCE_EXT = (".c", ".h", ".S", ".s", ".cc", ".cpp", ".hh", ".hpp")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*(["<])([^">]+)[">]')

RANK = {folder: i for i, (folder, _) in enumerate(LAYERS)}
ORDER = " < ".join(folder for folder, _ in LAYERS)


def is_build_dir(path):
    """A meson build directory (any name) or a hidden one: not sources."""
    name = os.path.basename(path)
    return name.startswith(".") or os.path.isdir(os.path.join(path, "meson-private"))


def sources(root):
    """Every source file under ROOT, as a path relative to ROOT."""
    for top in sorted(os.listdir(root)):
        path = os.path.join(root, top)
        if not os.path.isdir(path) or is_build_dir(path):
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames
                                 if not is_build_dir(os.path.join(dirpath, d)))
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def folder_of(rel):
    """The top-level folder of a path relative to the root."""
    return rel.split(os.sep, 1)[0] if os.sep in rel else ""


def find_under(root, top, name):
    """NAME as the tail of some file under ROOT/TOP, or None."""
    tail = os.sep + os.path.normpath(name)
    for rel in sources(root):
        if folder_of(rel) == top and (os.sep + rel).endswith(tail):
            return rel
    return None


def place(root, rel, name, quoted):
    """The folder NAME, included by REL, lives in; None if unplaceable."""
    if ABI_HEADERS.match(name):
        return "include"
    here = os.path.dirname(rel)
    candidates = [os.path.join(here, name)] if quoted else []
    candidates += [name, os.path.join("include", name)]
    for cand in candidates:
        cand = os.path.normpath(cand)
        if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
            return folder_of(cand)
    top = folder_of(rel)
    if quoted and top in OUTSIDE and find_under(root, top, name):
        return top
    return None


def allowed(src, dst):
    """May a file of folder SRC include one of folder DST?"""
    if src == dst:
        return True
    if src in OUTSIDE:
        rule = OUTSIDE[src]
        return rule is None or dst in rule
    return dst in RANK and RANK[dst] < RANK[src]


def why(src, dst):
    """The reason SRC may not include DST, for the message."""
    if src in OUTSIDE:
        return "%s/ may include only %s" % (src, ", ".join(
            f + "/" for f in OUTSIDE[src]))
    if dst in OUTSIDE:
        return "%s/ is no layer of the server" % dst
    return "%s is above %s (%s)" % (dst, src, ORDER)


def check(root):
    """The breaches under ROOT, as messages; empty when the tree is clean."""
    problems = []
    for rel in sources(root):
        src = folder_of(rel)
        if src not in RANK and src not in OUTSIDE:
            problems.append("%s: folder %s/ is in no row of LAYERS or OUTSIDE "
                            "in %s" % (rel, src, __file__))
            continue
        with open(os.path.join(root, rel), encoding="utf-8",
                  errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                quoted, name = m.group(1) == '"', m.group(2)
                dst = place(root, rel, name, quoted)
                if dst is None:
                    if quoted:
                        problems.append('%s:%d: cannot place "%s" in a layer'
                                        % (rel, lineno, name))
                    continue
                if allowed(src, dst) or (rel, name) in EXCEPTIONS:
                    continue
                problems.append('%s:%d: %s includes "%s" (%s): %s'
                                % (rel, lineno, src, name, dst, why(src, dst)))
    return problems


DOC = os.path.join("docs", "ARCHITECTURE.md")


def check_doc(root):
    """What ROOT's docs/ARCHITECTURE.md "Layers" section says otherwise than
    LAYERS and OUTSIDE: a list of problems (none without the file)."""
    path = os.path.join(root, DOC)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Layers\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        return ['%s: no "## Layers" section' % DOC]
    section = m.group(1)
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith("| `") and line.count("|") >= 4]
    problems = []
    folders = [r[0].strip("`").rstrip("/") for r in rows]
    want = [folder for folder, _ in LAYERS]
    if folders != want:
        problems.append("%s: the Layers table lists %s; LAYERS is %s"
                        % (DOC, " < ".join(folders), ORDER))
    for i, row in enumerate(rows):
        if i >= len(want) or folders[i] != want[i]:
            break
        may = row[-1]
        below = want[:i]
        named = [w.strip("`").rstrip("/") for w in re.split(r",\s*", may)]
        ok = (may == "itself") if i == 0 else (
            may == "the above" or named == below)
        if not ok:
            problems.append("%s: row %s/ says it may include %r; LAYERS lets "
                            "it include %s" % (DOC, want[i], may,
                                               ", ".join(below) or "itself"))
    rest = section[section.rfind("|"):]
    for folder in OUTSIDE:
        if "`%s/`" % folder not in rest:
            problems.append("%s: the text after the Layers table does not "
                            "name `%s/`, a folder of OUTSIDE" % (DOC, folder))
    return problems


def run(root):
    """Check ROOT, print the breaches; the exit status."""
    problems = check(root) + check_doc(root)
    for p in problems:
        print(p)
    if problems:
        print("%d include(s) against the layers; see docs/ARCHITECTURE.md, "
              "\"Layers\"" % len(problems))
        return 1
    return 0


# ---------------------------------------------------------------------------
# --self-test: the check run, as a process, over planted trees.
# ---------------------------------------------------------------------------
CLEAN = {
    "include/greenicorn.h": '#include "greenicorn/http.h"\n',
    "include/greenicorn/http.h": "",
    "core/log.h": '#include "greenicorn.h"\n#include "config.h"\n',
    "core/log.c": '#include "core/log.h"\n#include "log.h"\n#include <stdio.h>\n',
    "config/config.h": '#include "core/log.h"\n',
    "green/coro.S": '#include "config.h"\n',
    "workers/worker.c": '#include "green/coro.h"\n#include "core/log.h"\n'
                        '#include <net/if.h>\n',
    "green/coro.h": "",
    "server/main.c": '#include "workers/worker.h"\n#include "config/config.h"\n',
    "workers/worker.h": "",
    "contrib/green/pq.h": '#include <greenicorn.h>\n',
    "contrib/hooks/db.c": '#include "pq.h"\n#include "greenicorn.h"\n',
    "tests/unit/run.h": "",
    "tests/unit/test_x.c": '#include "run.h"\n#include "server/main.c"\n',
    "docs/notes.md": '#include "server/main.c"\n',
}


def plant(files):
    """A temporary tree holding FILES (path -> text); its path."""
    root = tempfile.mkdtemp(prefix="gn-layers-")
    for rel, text in files.items():
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
            f.write(text)
    return root


def run_script(root):
    """This script, run on ROOT: (exit status, output)."""
    p = subprocess.run([sys.executable, __file__, "--root", root],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=60)
    return p.returncode, p.stdout


def expect(files, status, *needles):
    """The check on a tree of FILES exits STATUS and says every NEEDLE."""
    root = plant(files)
    try:
        rc, out = run_script(root)
    finally:
        shutil.rmtree(root)
    assert rc == status, "exit %d, wanted %d:\n%s" % (rc, status, out)
    for needle in needles:
        assert needle in out, "%r missing from:\n%s" % (needle, out)
    return out


def self_test():
    """Clean trees pass; each kind of breach fails, named."""
    out = expect(CLEAN, 0)
    assert out == "", out
    expect(dict(CLEAN, **{"core/log.c": '#include "core/log.h"\n\n'
                          '#include "workers/worker.h"\n'}), 1,
           'core/log.c:3: core includes "workers/worker.h" (workers): '
           'workers is above core (' + ORDER + ")",
           "1 include(s) against the layers")
    expect(dict(CLEAN, **{"workers/worker.c": '#include <server/main.c>\n'}),
           1, 'workers/worker.c:1: workers includes "server/main.c" (server)')
    expect(dict(CLEAN, **{"config/config.h": '#include "tests/unit/run.h"\n'}),
           1, 'config/config.h:1: config includes "tests/unit/run.h" '
           '(tests): tests/ is no layer of the server')
    expect(dict(CLEAN, **{"contrib/hooks/db.c": '#include "core/log.h"\n'}),
           1, 'contrib/hooks/db.c:1: contrib includes "core/log.h" (core): '
           "contrib/ may include only include/")
    expect(dict(CLEAN, **{"green/coro.S": '#include "nowhere.h"\n'}),
           1, 'green/coro.S:1: cannot place "nowhere.h" in a layer')
    expect(dict(CLEAN, **{"tools/x.c": ""}),
           1, "tools/x.c: folder tools/ is in no row of LAYERS or OUTSIDE")
    # The architecture's table and text follow LAYERS and OUTSIDE.
    table = "".join("| `%s/` | x | %s |\n" % (folder, "itself" if i == 0 else
                                              "the above")
                    for i, (folder, _) in enumerate(LAYERS))
    beside = " ".join("`%s/`" % folder for folder in OUTSIDE)
    doc = "# A\n\n## Layers\n\n%s\nBeside: %s.\n\n## Next\n" % (table, beside)
    expect(dict(CLEAN, **{DOC: doc}), 0)
    swapped = table.replace("`net/`", "`tmp/`").replace("`http/`", "`net/`") \
                   .replace("`tmp/`", "`http/`")
    expect(dict(CLEAN, **{DOC: doc.replace(table, swapped)}), 1,
           "the Layers table lists include < core < config < green < patch < http < net")
    expect(dict(CLEAN, **{DOC: doc.replace("| `config/` | x | the above |",
                                           "| `config/` | x | `include/` |")}),
           1, "row config/ says it may include '`include/`'; LAYERS lets it "
           "include include, core")
    expect(dict(CLEAN, **{DOC: doc.replace("`bench/`", "bench")}), 1,
           "does not name `bench/`, a folder of OUTSIDE")
    # A meson build directory is not sources, whatever its name.
    expect(dict(CLEAN, **{"out/meson-private/x": "", "out/config.h":
                          '#include "server/main.c"\n'}), 0)
    self_test_repo()
    print("self-test: clean trees pass, planted upward includes fail")
    return 0


def self_test_repo():
    """A copy of the repository's sources fails with one include planted
    upward (in core/'s first file, of server/'s first header)."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    files = {}
    for rel in sources(repo):
        with open(os.path.join(repo, rel), encoding="utf-8",
                  errors="replace") as f:
            files[rel] = f.read()
    core = sorted(r for r in files if folder_of(r) == "core" and r.endswith(".c"))
    top = sorted(r for r in files if folder_of(r) == "server" and r.endswith(".h"))
    assert core and top, "no core/*.c or server/*.h in %s" % repo
    victim, target = core[0], top[0].replace(os.sep, "/")
    lines = files[victim].splitlines(True)
    lines.insert(5, '#include "%s"\n' % target)
    files[victim] = "".join(lines)
    expect(files, 1, '%s:6: core includes "%s" (server): server is above core'
           % (victim, target))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
