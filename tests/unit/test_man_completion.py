"""The man page and the shell completions cannot drift from the binary.

- docs/man/eefetch.1 renders with groff and man without a warning;
- every option each command's --help prints is described in that command's
  section of the man page (for run, plan, eval and repl: there or in the
  section of their shared options), and the top-level -h/--help/-V/--version;
- the bash completion offers, for each command, exactly the options its
  --help prints (plus -h/--help), and the zsh completion names each of them;
- every ENVIRONMENT variable eefetch reads (getenv in src/) is in the man page;
- `eefetch -V` prints the version as --version does (and as the man page's
  title line has it), and `eefetch --help`
  lists every docs/*.md page with its title and the installed docs folder.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

BIN = os.environ["EEFETCH_BIN"]
SRC = os.environ["EEFETCH_SRC"]
MAN = os.path.join(SRC, "docs", "man", "eefetch.1")
BASH = os.path.join(SRC, "scripts", "completion", "eefetch.bash")
ZSH = os.path.join(SRC, "scripts", "completion", "_eefetch")
COMMANDS = ["run", "plan", "eval", "repl", "serve", "auth"]
SHARED = {"run", "plan", "eval", "repl"}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def help_text(cmd):
    p = subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"eefetch {cmd} --help exited {p.returncode}: {p.stderr}")
    return p.stdout


def help_options(text):
    """Options in the option column of a --help text: lines that start with
    spaces and a dash; the column ends at the first run of two spaces."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-.*)$", line)
        if not m:
            continue
        column = re.split(r"\s{2,}", m.group(1))[0]
        opts.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", column))
    return opts


def has_option(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None


def man_plain():
    """The man source with escapes undone, so options read as typed."""
    s = open(MAN, encoding="utf-8").read()
    s = s.replace("\\-", "-")
    s = re.sub(r"\\f[BIRP]", "", s)
    return s


def man_sections(text):
    """Subsection heading -> its text (up to the next .SS or .SH)."""
    out = {}
    parts = re.split(r"^\.S[SH] (.*)$", text, flags=re.M)
    for i in range(1, len(parts), 2):
        out[parts[i].strip()] = parts[i + 1]
    return out


# 1. It renders without a warning.
g = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True)
if g.returncode != 0 or g.stderr.strip():
    fail(f"groff -man -ww warns: rc {g.returncode}: {g.stderr}")
if shutil.which("man"):
    env = dict(os.environ, MANWIDTH="80")
    m = subprocess.run(["man", "-l", "--warnings", MAN], capture_output=True, text=True, env=env)
    if m.returncode != 0 or m.stderr.strip():
        fail(f"man -l --warnings warns: rc {m.returncode}: {m.stderr}")
    for title in ["NAME", "SYNOPSIS", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"]:
        if not re.search(r"^" + title + r"$", m.stdout, flags=re.M):
            fail(f"the rendered man page has no {title} section")
else:
    fail("man is missing (scripts/setup.sh installs man-db)")

plain = man_plain()
sections = man_sections(plain)
shared_heading = "Options of run, plan, eval and repl"
if shared_heading not in sections:
    fail(f"the man page has no section '{shared_heading}'")


def section_of(cmd):
    for heading, body in sections.items():
        if heading.startswith("eefetch " + cmd + " ") or heading == "eefetch " + cmd:
            return body
    fail(f"the man page has no section for eefetch {cmd}")
    return ""


# 2. Every option of every command's --help is in its section.
helps = {}
for cmd in COMMANDS:
    opts = help_options(help_text(cmd))
    helps[cmd] = opts
    if len(opts) < 3:
        fail(f"eefetch {cmd} --help: found only {sorted(opts)}; is the option column parsed?")
    body = section_of(cmd)
    if cmd in SHARED:
        body += sections.get(shared_heading, "")
    for opt in sorted(opts):
        if not has_option(body, opt):
            fail(f"eefetch {cmd} {opt} (in its --help) is not in the man page's section for {cmd}")
    print(f"{cmd}: {len(opts)} options checked: {' '.join(sorted(opts))}")

top = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
for opt in ["-h", "--help", "-V", "--version"]:
    if not has_option(plain, opt):
        fail(f"eefetch {opt} is not in the man page")
for cmd in COMMANDS:
    if not re.search(r"^\s+" + cmd + r"\s", top, flags=re.M):
        fail(f"eefetch --help does not list {cmd}")

# 3. Every variable the sources read is in ENVIRONMENT.
env_text = sections.get("ENVIRONMENT", "")
names = set()
for path in glob.glob(os.path.join(SRC, "src", "**", "*.c"), recursive=True):
    text = open(path, encoding="utf-8", errors="replace").read()
    names.update(re.findall(r'getenv\("([A-Z_a-z0-9]+)"\)', text))
    names.update(re.findall(r'\benv\("([A-Z_a-z0-9]+)"\)', text))
    for arr in re.findall(r"(?:vars|envs)\[\]\s*=\s*\{([^}]*)\}", text):
        names.update(re.findall(r'"([A-Z_][A-Z_0-9]*)"', arr))
if len(names) < 10:
    fail(f"found only {sorted(names)} read from the environment; is the scan broken?")
for name in sorted(names):
    if not has_option(env_text, name):
        fail(f"the environment variable {name} (read in src/) is not in the man page's ENVIRONMENT")
print(f"ENVIRONMENT: {len(names)} variables: {' '.join(sorted(names))}")

# 4. The bash completion offers exactly each command's options.
for cmd in COMMANDS:
    p = subprocess.run(["bash", "-c", f'source "{BASH}" && _eefetch_opts {cmd}'],
                       capture_output=True, text=True)
    offered = set(p.stdout.split())
    want = helps[cmd] | {"--help"}
    if cmd != "serve":
        want |= {"-h"}
    if offered != want:
        fail(f"bash completion of eefetch {cmd}: missing {sorted(want - offered)}, "
             f"not in --help {sorted(offered - want)}")

# 5. The zsh completion names them too.
z = open(ZSH, encoding="utf-8").read()


def zsh_array(name):
    m = re.search(r"^\s*" + name + r"=\((.*?)^\s*\)", z, flags=re.M | re.S)
    if not m:
        fail(f"_eefetch has no array {name}")
        return set()
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)(?=[\[,}\)'])", m.group(1)))


zcommon, zrecipe = zsh_array("common"), zsh_array("recipe")
zsets = {"run": zcommon | zrecipe, "plan": zcommon | zrecipe | ({"--lock"} if "'--lock[" in z else set()),
         "eval": zcommon, "repl": zcommon, "serve": zsh_array("serve"), "auth": zsh_array("auth")}
for cmd in COMMANDS:
    missing = helps[cmd] - zsets[cmd]
    if missing:
        fail(f"zsh completion of eefetch {cmd} lacks {sorted(missing)}")
    extra = zsets[cmd] - helps[cmd] - {"-h", "--help"}
    if extra:
        fail(f"zsh completion of eefetch {cmd} offers {sorted(extra)}, not in its --help")

# 6. -V, and the docs list of --help.
v1 = subprocess.run([BIN, "--version"], capture_output=True, text=True)
v2 = subprocess.run([BIN, "-V"], capture_output=True, text=True)
if v2.returncode != 0 or v2.stdout != v1.stdout or not v2.stdout.startswith("eefetch "):
    fail(f"eefetch -V printed {v2.stdout!r} (rc {v2.returncode}), --version {v1.stdout!r}")
th = re.search(r'^\.TH EEFETCH 1 "[^"]*" "(eefetch [^"]*)"', open(MAN, encoding="utf-8").read(), flags=re.M)
if not th or th.group(1) != v1.stdout.strip():
    fail(f"the man page's .TH names {th.group(1) if th else None!r}, the binary {v1.stdout.strip()!r}")
docs = sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
for doc in docs:
    name = os.path.basename(doc)
    with open(doc, encoding="utf-8") as f:
        title = f.readline().lstrip("#").strip()
    if not re.search(r"^\s+" + re.escape(name) + r"\s+" + re.escape(title) + r"$", top, flags=re.M):
        fail(f"eefetch --help does not list {name} with its title '{title}'")
    if not re.search(r"\b" + re.escape(name) + r"\b", plain):
        fail(f"the man page's SEE ALSO does not name {name}")
if not re.search(r"installed, with README.md.*\n.*in /\S+/share/doc/eefetch", top):
    fail("eefetch --help does not say where the docs are installed")

if failures:
    print(f"0 passed, {len(failures)} failed")
    sys.exit(1)
print("1 passed, 0 failed")
