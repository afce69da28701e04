#!/usr/bin/env python3
"""The plugin guide's API reference against the header it documents.

The header is include/greenicorn.h and the parts it includes,
include/greenicorn/*.h, all read here. Every function, type and macro they
offer plugins must be in the reference of docs/plugins.md, with the
signature the header gives it, in a section that names the part declaring
it ("In `greenicorn/http.h`."); every gn_* / GN_* name the guide mentions
must exist in the header (or, for the database clients of section 9, in
contrib/green's headers); and the hooks of the guide's table must be the
[hooks] keys of greenicorn.conf.example; and what the guide quotes the
server saying about its own ABI version ("plugin ABI X.Y", "speaks X.Y")
is the header's. Run from anywhere:

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
    """Problems with the ABI version the guide quotes: the server printing
    it (--version, the major-version loading error), and the reference
    giving the header's."""
    major = re.search(r"#define GN_ABI_VERSION_MAJOR (\d+)", header).group(1)
    minor = re.search(r"#define GN_ABI_VERSION_MINOR (\d+)", header).group(1)
    current = "%s.%s" % (major, minor)
    quotes = re.findall(r"\(plugin ABI (\d+\.\d+)\)", guide)
    quotes += re.findall(r"this greenicorn speaks (\d+\.\d+)", guide)
    # The reference's "the plugin ABI of the header (1, 3)".
    quotes += ["%s.%s" % m for m in
               re.findall(r"plugin ABI of the\s+header \((\d+), (\d+)\)", guide)]
    if not quotes:
        return ["docs/plugins.md quotes no '(plugin ABI X.Y)' or 'speaks X.Y'"]
    return ["docs/plugins.md quotes ABI %s where the server says %s" % (q, current)
            for q in quotes if q != current]


def declared_names(section):
    """The names SECTION of the reference declares: in its C blocks, the
    functions, typedefs, enums and macros defined there (not the types
    their parameters use); in its text, the `GN_X`, `GN_Y(...)`: lists
    that open a paragraph."""
    names = set()
    for block in re.findall(r"```c\n(.*?)```", section, re.S):
        names.update(re.findall(r"\b(gn_\w+)\s*\(", block))
        names.update(re.findall(r"\}\s*(gn_\w+_t)\s*;", block))
        names.update(re.findall(r"typedef\s+struct\s+\w+\s+(gn_\w+_t)\s*;", block))
        names.update(re.findall(r"#define\s+(GN_\w+)", block))
        names.update(re.findall(r"\b(GN_LOG_[A-Z]+)\s*=", block))
    for m in re.finditer(r"(?:^|\n\n)((?:`[^`\n]+`,\s*)*`[^`\n]+`):", section):
        names.update(re.findall(r"`(GN_\w+|gn_\w+)", m.group(1)))
    return names


def part_problems(parts, reference):
    """Problems with the reference's sections against the header's parts:
    each section names the part it documents, each part has a section, and
    what a section declares is declared by that part."""
    problems = []
    home = {}
    for path, text in parts.items():
        if path == "greenicorn.h":
            continue
        names = header_api(text)
        if not names:
            problems.append("include/%s declares no public name" % path)
        for name in names:
            home[name] = path
    named = set()
    for section in reference.split("\n### ")[1:]:
        title = section.split("\n", 1)[0]
        says = re.findall(r"^In `(greenicorn/\w+\.h)`\.$", section, re.M)
        if len(says) != 1:
            problems.append("API reference, %s: names %d part(s) of the header "
                            "(one 'In `greenicorn/X.h`.' line wanted)" % (title, len(says)))
            continue
        named.add(says[0])
        for name in sorted(declared_names(section)):
            if name in home and home[name] != says[0]:
                problems.append("API reference, %s: %s is in %s, not %s"
                                % (title, name, home[name], says[0]))
    for path in sorted(set(parts) - named - {"greenicorn.h"}):
        problems.append("include/%s: no section of the API reference names it" % path)
    return problems


def main():
    parts = headers()
    header = "\n".join(parts.values())
    guide = read("docs", "plugins.md")
    if "## API reference" not in guide:
        print("docs/plugins.md: no '## API reference' section")
        return 1
    reference = guide.split("## API reference", 1)[1]
    api = header_api(header)
    problems = part_problems(parts, reference)
    flat_ref = " ".join(reference.split())
    for name, decl in sorted(api.items()):
        if name in ("GN_API",):
            continue
        if not re.search(r"\b%s\b" % re.escape(name), reference):
            problems.append("%s: in greenicorn.h, missing from the API reference" % name)
        elif decl is not None and decl not in flat_ref:
            problems.append("%s: the reference does not show the header's signature:\n    %s"
                            % (name, decl))
    green = " ".join(read("contrib", "green", os.path.basename(h)) for h in
                     sorted(glob.glob(os.path.join(REPO, "contrib", "green", "*.h"))))
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
