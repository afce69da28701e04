#!/usr/bin/env python3
"""Each part of the plugin ABI header compiles on its own, in C and C++.

include/greenicorn.h is an umbrella over include/greenicorn/*.h, one part
per concept. A plugin includes the umbrella, but each part includes what
it needs, so that none depends on the order the umbrella happens to use.
For the umbrella and each part, a translation unit that includes just it
(twice: its include guard) must compile as C11 and as C++11, with
-pedantic-errors -Wall -Wextra -Werror and no feature macro. In C++, the
unit then declares every function of the header again inside extern "C",
which the compiler refuses for a function the header gave C++ linkage: a
plugin in C++ would look that function up under its mangled name and fail
to load. Besides:

  - every part has an include guard of its own, and the umbrella includes
    every part;
  - a unit including only the umbrella uses every function, type and macro
    of every part.

The compilers are $CC and $CXX (meson passes its own); --no-cxx, which
meson gives when it has no C++ compiler, checks C only and says so.

    CC=cc CXX=c++ python3 tests/headers/check_headers.py
"""
import glob
import os
import re
import shlex
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INCLUDE = os.path.join(REPO, "include")
sys.path.insert(0, os.path.join(REPO, "tests", "docs"))
from check_api_docs import header_api  # noqa: E402  (one parser of the API)

WARN = ["-pedantic-errors", "-Wall", "-Wextra", "-Werror"]
LANGS = {
    "C11": ("CC", ["-std=c11", "-x", "c", "-Wstrict-prototypes"] + WARN),
    "C++11": ("CXX", ["-std=c++11", "-x", "c++"] + WARN),
}


def compile_unit(lang, source):
    """'' when SOURCE compiles as LANG, else the compiler's complaint."""
    var, flags = LANGS[lang]
    cmd = shlex.split(os.environ[var]) + flags + ["-fsyntax-only", "-I", INCLUDE, "-"]
    r = subprocess.run(cmd, input=source, capture_output=True, text=True, timeout=120)
    return "" if r.returncode == 0 else (r.stderr.strip() or "exit %d" % r.returncode)


def alone(name, text, lang):
    """A unit including NAME twice, then (in C++) its functions again
    with C linkage."""
    src = '#include "%s"\n#include "%s"\n' % (name, name)
    if lang.startswith("C++"):
        decls = [d for d in header_api(text).values() if d is not None]
        src += "".join('extern "C" %s;\n' % d for d in decls)
    else:
        src += "typedef int translation_unit_not_empty;\n"
    return src


def uses_everything(api):
    """A unit including only the umbrella that names each of API."""
    src = '#include "greenicorn.h"\n'
    body = []
    for name, decl in sorted(api.items()):
        if decl is not None:
            body.append("    (void)&%s;" % name)
        elif name.endswith("_t"):
            body.append("    { %s *p = 0; (void)p; }" % name)
        elif name.startswith("GN_LOG_"):
            body.append("    (void)%s;" % name)
        else:
            src += "#ifndef %s\n#error %s is not defined\n#endif\n" % (name, name)
    fn = "void uses_everything(void);\nvoid uses_everything(void)\n{\n%s\n}\n"
    return src + fn % "\n".join(body)


def main():
    langs = ["C11"] if "--no-cxx" in sys.argv[1:] else ["C11", "C++11"]
    for lang in langs:
        if not os.environ.get(LANGS[lang][0]):
            print("$%s is not set (the %s compiler)" % (LANGS[lang][0], lang))
            return 2
    umbrella = "greenicorn.h"
    parts = sorted("greenicorn/" + os.path.basename(p)
                   for p in glob.glob(os.path.join(INCLUDE, "greenicorn", "*.h")))
    texts = {p: open(os.path.join(INCLUDE, p)).read() for p in [umbrella] + parts}
    problems = []
    if not parts:
        problems.append("include/greenicorn/ holds no part")
    included = set(re.findall(r'^#include "(greenicorn/\w+\.h)"', texts[umbrella], re.M))
    for p in parts:
        if p not in included:
            problems.append("%s does not include %s" % (umbrella, p))
    guards = {}
    for p in [umbrella] + parts:
        m = re.search(r"^#ifndef (\w+)\n#define \1\n", texts[p], re.M)
        if not m:
            problems.append("%s: no include guard (#ifndef X / #define X)" % p)
        elif m.group(1) in guards:
            problems.append("%s: guard %s is %s's too" % (p, m.group(1), guards[m.group(1)]))
        else:
            guards[m.group(1)] = p
    api = {}
    for p in parts:
        names = header_api(texts[p])
        if not names:
            problems.append("%s declares no public name" % p)
        api.update(names)
    units = 0
    for lang in langs:
        for p in [umbrella] + parts:
            units += 1
            err = compile_unit(lang, alone(p, texts[p], lang))
            if err:
                problems.append("%s alone, as %s:\n%s" % (p, lang, err))
        units += 1
        err = compile_unit(lang, uses_everything(api))
        if err:
            problems.append("the %d public names through %s, as %s:\n%s"
                            % (len(api), umbrella, lang, err))
    for p in problems:
        print(p)
    print("%d parts, %d public names, %d units compiled (%s)%s: %d problem(s)"
          % (len(parts), len(api), units, ", ".join(langs),
             "" if "C++11" in langs else "; C++ not checked: no C++ compiler",
             len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
