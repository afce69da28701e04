#!/usr/bin/env python3
"""The plugin guide's API reference against the header it documents.

Every function, type and macro that include/greenicorn.h and its parts
(include/greenicorn/*.h) offer plugins must be in the reference of
docs/plugins.md, with the signature the header gives it; every gn_* /
GN_* name the guide mentions must exist in the header (or, for the
database clients of section 9, in contrib/green's headers); and the hooks
of the guide's table must be the [hooks] keys of greenicorn.conf.example;
and what the guide quotes the server saying about its own ABI version
("plugin ABI X.Y", "speaks X.Y") is the header's. Run from anywhere:

    python3 tests/docs/check_api_docs.py
"""
import glob
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*path):
    with open(os.path.join(REPO, *path)) as f:
        return f.read()


def headers():
    """{path under include/: text} of the umbrella and each of its parts."""
    paths = ["greenicorn.h"] + sorted(
        os.path.relpath(p, os.path.join(REPO, "include"))
        for p in glob.glob(os.path.join(REPO, "include", "greenicorn", "*.h")))
    return {p: read("include", p) for p in paths}


def header_api(text):
    """{name: normalised declaration} of the header's public API."""
    body = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    api = {}
    # A declaration starts its line with GN_API: "#define GN_API ..." and
    # "#define GN_EXPORT GN_API" do not. It runs to the semicolon, past
    # parentheses inside (a function pointer parameter) and an attribute.
    for m in re.finditer(r"^GN_API\s+([^;{]*?\b(gn_\w+)\s*\([^;]*?\))"
                         r"\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?;", body,
                         re.S | re.M):
        decl = m.group(1)
        decl = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", decl)
        api[m.group(2)] = " ".join(decl.split())
    for m in re.finditer(r"typedef\s+(?:struct|enum)?\s*\w*\s*(?:\{.*?\})?\s*(gn_\w+_t)\s*;",
                         body, re.S):
        api[m.group(1)] = None
    for m in re.finditer(r"#define\s+(GN_[A-Z0-9_]+)", body):
        if not m.group(1).startswith(("GN_API", "GREENICORN_H")) and m.group(1) != "GN_API":
            api[m.group(1)] = None
    for m in re.finditer(r"\b(GN_LOG_[A-Z]+)\s*=", body):
        api[m.group(1)] = None
    return api


def abi_quotes(header, guide):
    """Problems with the ABI version the guide quotes the server printing
    (--version, the major-version loading error)."""
    major = re.search(r"#define GN_ABI_VERSION_MAJOR (\d+)", header).group(1)
    minor = re.search(r"#define GN_ABI_VERSION_MINOR (\d+)", header).group(1)
    current = "%s.%s" % (major, minor)
    quotes = re.findall(r"\(plugin ABI (\d+\.\d+)\)", guide)
    quotes += re.findall(r"this greenicorn speaks (\d+\.\d+)", guide)
    if not quotes:
        return ["docs/plugins.md quotes no '(plugin ABI X.Y)' or 'speaks X.Y'"]
    return ["docs/plugins.md quotes ABI %s where the server says %s" % (q, current)
            for q in quotes if q != current]


def main():
    header = "\n".join(headers().values())
    guide = read("docs", "plugins.md")
    if "## API reference" not in guide:
        print("docs/plugins.md: no '## API reference' section")
        return 1
    reference = guide.split("## API reference", 1)[1]
    api = header_api(header)
    problems = []
    flat_ref = " ".join(reference.split())
    for name, decl in sorted(api.items()):
        if name in ("GN_API",):
            continue
        if not re.search(r"\b%s\b" % re.escape(name), reference):
            problems.append("%s: in greenicorn.h, missing from the API reference" % name)
        elif decl is not None and decl not in flat_ref:
            problems.append("%s: the reference does not show the header's signature:\n    %s"
                            % (name, decl))
    green = " ".join(read("contrib", "green", h) for h in ("pq.h", "redis.h", "wait.h"))
    for name in sorted(set(re.findall(r"\b(gn_\w+|GN_[A-Z0-9_]+)\b", guide))):
        if name.startswith(("gn__",)) or name.endswith("_"):
            continue
        known = name in api or name in ("GN_API",)
        known = known or re.search(r"\b%s\b" % re.escape(name), header)
        # The contrib clients' names ("gn_pq", a library: its prefix).
        known = known or re.search(r"\b%s(\b|_)" % re.escape(name), green)
        if not known:
            problems.append("%s: mentioned in docs/plugins.md, in neither greenicorn.h "
                            "nor contrib/green" % name)
    table = guide.split("<!-- hooks-table", 1)[1].split("<!-- end hooks-table", 1)[0]
    hooks = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    example = read("greenicorn.conf.example").split("[hooks]", 1)[1].split("\n[", 1)[0]
    keys = set(re.findall(r"(?m)^(\w+) =", example))
    if hooks != keys:
        problems.append("hooks table %s != [hooks] keys of greenicorn.conf.example %s"
                        % (sorted(hooks ^ keys), sorted(keys)))
    problems += abi_quotes(header, guide)
    for p in problems:
        print(p)
    print("%d public names checked, %d problem(s)" % (len(api), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
