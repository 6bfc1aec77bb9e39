#!/usr/bin/env python3
# The checks of scripts/man-lint.sh that need more than groff and mandoc:
# structure, API coverage, synopses, constants and compiled examples (the
# list is in that script's header). Run from the repository root:
#   man-lint.py TREE PAGE...
# TREE is a man hierarchy (man3/, man7/) holding copies of the PAGEs.
# Prints each problem as "man-lint: ..." on stderr; exits 1 if there was one.
import os, re, shutil, subprocess, sys, tempfile

tree, pages = sys.argv[1], sys.argv[2:]
bad = []

def fail(msg):
    bad.append(msg)

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

def render(rel):
    """The page as plain text, as a reader sees it."""
    r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", rel], cwd=tree,
                       capture_output=True, text=True)
    # groff prints some characters as Unicode; map back the ones C needs.
    return (r.stdout.replace("\u2212", "-").replace("\u2010", "-")
            .replace("\u2019", "'").replace("\u2018", "`"))

def section(text, name):
    """The body of section NAME of a rendered page."""
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]*\n|\Z)" % re.escape(name), text, re.S | re.M)
    return m.group(1) if m else ""

def norm(s):
    s = re.sub(r"/\*.*?\*/", " ", s, flags=re.S)
    s = re.sub(r"//[^\n]*", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"\s*([{}();,*\[\]=])\s*", r"\1", s)

# --- the headers: declarations by kind ---------------------------------------
headers = {h: read("include/" + h) for h in ("prossntp.h", "prossntp_ext.h")}
hdecl = {}          # normalised declaration -> header
hblocks = {}        # (kind, name) -> normalised block
hdefines = {}       # macro name -> normalised "#define NAME VALUE"
for h, text in headers.items():
    for m in re.finditer(r"^#define\s+(\w+)\s+(.*)$", text, re.M):
        hdefines[m.group(1)] = norm("#define %s %s" % (m.group(1), m.group(2)))
    body = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    body = re.sub(r"^#ifdef __cplusplus$.*?^#endif$", " ", body, flags=re.S | re.M)
    body = re.sub(r"^\s*#.*$", " ", body, flags=re.M)
    for m in re.finditer(r"\b(struct|enum|union)\s+(\w+)\s*\{.*?\}\s*;", body, re.S):
        hblocks[(m.group(1), m.group(2))] = norm(m.group(0))
    body = re.sub(r"\b(struct|enum|union)\s+\w+\s*\{.*?\}\s*;", " ", body, flags=re.S)
    for stmt in body.split(";"):
        s = norm(stmt.replace("ACUAPI", ""))
        if s and "{" not in s and "}" not in s:
            hdecl[s + ";"] = h

version = re.search(r'^version\s*=\s*"([^"]+)"', read("Cargo.toml"), re.M).group(1)

# --- the exported functions ----------------------------------------------------
exported = []
for src in ("src/ffi/api.rs", "src/ffi/ext.rs"):
    exported += re.findall(r'pub (?:unsafe )?extern "C" fn ([A-Za-z_]\w*)\s*\(', read(src))
if len(exported) < 10:
    fail("found only %d exported functions in src/ffi: has the grep gone stale?" % len(exported))

# --- each page ---------------------------------------------------------------------
names = {}          # page name -> (file, rendered text) of the page that documents it
so_pages = {}
texts = {}
for p in pages:
    base = os.path.basename(p)
    name, sect = base.rsplit(".", 1)
    rel = "man%s/%s" % (sect, base)
    src = read(p)
    texts[p] = src
    if src.lstrip().startswith(".so"):
        if not re.fullmatch(r"\.so man[37]/[A-Za-z0-9_]+\.[37]\n", src):
            fail("%s: a link page must be exactly one line `.so manN/PAGE.N`" % p)
            continue
        target = src.split()[1]
        if not os.path.exists(os.path.join("man", os.path.basename(target))):
            fail("%s: links to %s, which does not exist" % (p, target))
            continue
        so_pages[name] = os.path.basename(target)
        continue
    th = re.search(r"^\.TH (\S+) (\S+) (\S+) \"([^\"]*)\" \"([^\"]*)\"$", src, re.M)
    if not th:
        fail("%s: no .TH TITLE SECTION DATE \"SOURCE\" \"MANUAL\" line" % p)
    else:
        if th.group(1) != name.upper() or th.group(2) != sect:
            fail("%s: .TH says %s(%s)" % (p, th.group(1), th.group(2)))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", th.group(3)):
            fail("%s: .TH date %s is not YYYY-MM-DD" % (p, th.group(3)))
        if th.group(4) != "prossntp " + version:
            fail("%s: .TH source is \"%s\", Cargo.toml says version %s" % (p, th.group(4), version))
    text = render(rel)
    for i, line in enumerate(text.splitlines(), 1):
        if len(line) > 80:
            fail("%s: rendered line %d is %d columns wide (80 at most): %s" % (p, i, len(line), line.strip()))
    listed = [n.strip() for n in section(text, "NAME").split(" - ")[0].replace("\n", " ").split(",")]
    if name not in listed:
        fail("%s: NAME does not list %s" % (p, name))
    for n in listed:
        names[n] = (p, text)
    for s in (["NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ATTRIBUTES", "SEE ALSO"]
              if sect == "3" else ["NAME", "DESCRIPTION", "ENVIRONMENT", "ERRORS", "SEE ALSO"]):
        if not re.search(r"^%s$" % s, text, re.M):
            fail("%s: no %s section" % (p, s))

    # The SYNOPSIS must agree with the headers.
    syn = section(text, "SYNOPSIS")
    for inc in re.findall(r"#include <([^>]+)>", syn):
        if inc not in headers:
            fail("%s: SYNOPSIS includes <%s>, which include/ does not have" % (p, inc))
    for m in re.finditer(r"^\s*#define\s+(\w+)\s+(.*)$", syn, re.M):
        if hdefines.get(m.group(1)) != norm("#define %s %s" % (m.group(1), m.group(2))):
            fail("%s: SYNOPSIS has `%s`, the headers do not" % (p, m.group(0).strip()))
    rest = re.sub(r"^\s*#.*$", " ", syn, flags=re.M)
    for m in re.finditer(r"\b(struct|enum|union)\s+(\w+)\s*\{.*?\}\s*;", rest, re.S):
        want = hblocks.get((m.group(1), m.group(2)))
        if want is None:
            fail("%s: SYNOPSIS declares %s %s, the headers do not" % (p, m.group(1), m.group(2)))
        elif norm(m.group(0)) != want:
            fail("%s: SYNOPSIS's %s %s differs from the header's:\n  page:   %s\n  header: %s"
                 % (p, m.group(1), m.group(2), norm(m.group(0)), want))
    rest = re.sub(r"\b(struct|enum|union)\s+\w+\s*\{.*?\}\s*;", " ", rest, flags=re.S)
    includes = set(re.findall(r"#include <([^>]+)>", syn))
    for stmt in rest.split(";")[:-1]:
        s = norm(stmt) + ";"
        if s not in hdecl:
            fail("%s: SYNOPSIS has `%s`, the headers do not" % (p, s))
        elif "(" in s and hdecl[s] not in includes:
            fail("%s: SYNOPSIS shows `%s` without #include <%s>" % (p, s, hdecl[s]))

    # EXAMPLES: every .EX block that starts with #include is a program.
    ex = src.split("\n.SH EXAMPLES", 1)
    blocks = re.findall(r"^\.EX\n(.*?)^\.EE$", ex[1], re.S | re.M) if len(ex) == 2 else []
    texts[p + "#examples"] = blocks

# --- every exported function has a page whose SYNOPSIS shows its prototype ------------
for fn in exported:
    page = "man/%s.3" % fn
    if not os.path.exists(page):
        fail("%s is exported by the library but has no page %s" % (fn, page))
        continue
    doc = names.get(fn)
    if doc is None:
        fail("%s: no page lists %s in its NAME section" % (page, fn))
        continue
    if fn in so_pages and doc[0] != "man/" + so_pages[fn]:
        fail("%s links to %s, but %s documents %s" % (page, so_pages[fn], doc[0], fn))
    protos = [d for d in hdecl if re.search(r"[ *]%s\(" % re.escape(fn), d)]
    if len(protos) != 1:
        fail("%s: found %d prototypes for it in include/" % (fn, len(protos)))
        continue
    syn = section(doc[1], "SYNOPSIS")
    shown = [norm(s) + ";" for s in re.sub(r"\b(struct|enum|union)\s+\w+\s*\{.*?\}\s*;", " ",
                                             re.sub(r"^\s*#.*$", " ", syn, flags=re.M), flags=re.S).split(";")]
    if protos[0] not in shown:
        fail("%s: the SYNOPSIS of %s does not show `%s`" % (fn, doc[0], protos[0]))
for name, target in so_pages.items():
    if name not in names or names[name][0] != "man/" + target:
        fail("man/%s.3 links to %s, whose NAME does not list %s" % (name, target, name))

# --- constants ------------------------------------------------------------------------
alltext = "\n".join(v for k, v in texts.items() if not k.endswith("#examples"))
for macro in sorted(hdefines):
    if re.match(r"(ERR_SM_|PROSSNTP_)", macro) and macro not in alltext and not macro.endswith("_H"):
        fail("%s (include/) is mentioned by no page" % macro)
overview = texts.get("man/prossntp.7", "")
for macro in sorted(hdefines):
    if macro.startswith("ERR_SM_") and macro not in overview:
        fail("man/prossntp.7: ERRORS does not list %s" % macro)

# --- examples compile ---------------------------------------------------------------------
cc = shutil.which("cc")
ESCAPES = {"\\e": "\\", "\\-": "-", "\\(aq": "'", "\\(dq": '"', "\\&": ""}
if cc is None:
    print("man-lint: cc not found, EXAMPLES not compiled", file=sys.stderr)
else:
    with tempfile.TemporaryDirectory() as d:
        n = 0
        for key, blocks in texts.items():
            if not key.endswith("#examples"):
                continue
            for block in blocks:
                unknown = set(re.findall(r"\\(?:\(..|.)", block)) - set(ESCAPES)
                if unknown:
                    fail("%s: an example holds roff escapes the lint does not know: %s"
                         % (key[:-9], " ".join(sorted(unknown))))
                code = re.sub(r"\\(?:\(..|.)", lambda m: ESCAPES.get(m.group(0), m.group(0)), block)
                if not code.startswith("#include"):
                    continue
                n += 1
                path = os.path.join(d, "example%d.c" % n)
                with open(path, "w") as f:
                    f.write(code)
                r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                                    "-Iinclude", path], capture_output=True, text=True)
                if r.returncode != 0:
                    fail("%s: an example does not compile:\n%s" % (key[:-9], r.stderr))

for b in bad:
    print("man-lint: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
