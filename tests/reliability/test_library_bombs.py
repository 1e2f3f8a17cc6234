#!/usr/bin/python3
"""Library calls that do unbounded work in C stop at the instruction budget
and at Ctrl-C.

Lua's count hook never fires inside a C function, so before eefetch ran
its own pattern matcher (src/host/lpattern.c) and charged string.rep,
table.move and table.sort (src/host/lbounded.c), each bomb below ran for
minutes or forever, deaf to --max-instructions and to SIGINT. Now each
stops within seconds with exit status 1 and a message naming
--max-instructions; SIGINT stops a running bomb within a second; and
ordinary patterns on long strings give the results an independent
computation (Python) gives.
"""

import os
import re
import signal
import subprocess
import sys
import time

BIN = os.environ.get("EEFETCH_BIN") or os.path.join(os.environ.get("EEFETCH_BUILD", "build"), "eefetch")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "Segmentation fault", "core dumped")
FIND_BOMB = 'print(string.find(string.rep("a", 50000), string.rep("a-", 30) .. "b"))'

# (name, code, what the message names)
BOMBS = [
    ("find", FIND_BOMB, "pattern matching"),
    ("method match", 'local s = ("a"):rep(50000) print(s:match(("a*"):rep(30) .. "b"))', "pattern matching"),
    ("gmatch", 'for x in string.gmatch(("a"):rep(50000), ("a?"):rep(40) .. "b") do end', "pattern matching"),
    ("gsub", 'print(string.gsub(("a"):rep(50000), ("(a*)"):rep(20) .. "%1b", ""))', "pattern matching"),
    ("back-references", 'print(string.find(("a"):rep(30000), "(.*)(.*)(.*)%3%2%1b"))', "pattern matching"),
    # pcall must not swallow the stop: the budget stays spent
    ("pcall loop", 'while true do pcall(string.find, ("a"):rep(50000), ("a-"):rep(30) .. "b") end',
     "instruction budget"),
    ("table.move", "table.move({}, 1, 1e15, 1)", "table.move"),
    ("table.sort", 'local s, t = ("x"):rep(1e7), {} for i = 1, 20000 do t[i] = s end table.sort(t)', "table.sort"),
    # 20 MB strings: a sanitizer build maps and faults in each one, so a
    # smaller budget keeps this bomb's run in seconds on a loaded machine
    # (the last --max-instructions given wins)
    ("string.rep loop", 'for i = 1, 1e6 do local x = string.rep("ab", 1e7) end', "string.rep",
     "--max-instructions", "2e7"),
    ("unsafe find", FIND_BOMB, "pattern matching", "--unsafe"),
]

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def clean(out):
    return not any(m in out for m in SANITIZER_MARKS)


def run(code, *opts, timeout=30):
    """(exit status, output, seconds); status None when killed at the timeout."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([BIN, "eval", *opts, code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", time.monotonic() - t0
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


# 1. Each bomb stops at the budget, with the option in the message.
for name, code, want, *opts in BOMBS:
    rc, out, secs = run(code, "--max-instructions", "1e8", *opts)
    if rc is None:
        fail("%s: still running after 30 s" % name)
    elif rc != 1 or "--max-instructions" not in out or want not in out or "(eval):1:" not in out:
        fail("%s: rc %d, expected 1 and '%s', '--max-instructions', '(eval):1:' in: %s" % (name, rc, want, out))
    elif secs > 15:
        fail("%s: took %.1f s" % (name, secs))
    elif not clean(out):
        fail("%s: sanitizer report: %s" % (name, out))
    else:
        print("ok: %s stopped in %.2f s: %s" % (name, secs, out.splitlines()[0]))

# 2. An empty string.rep of 2^63 (Lua's own loops that often) is instant.
rc, out, secs = run('print(#string.rep("", math.maxinteger, ""))', timeout=30)
if rc != 0 or out.strip() != "0" or secs > 5:
    fail("empty rep: rc %s in %.1f s: %s" % (rc, secs, out))
else:
    print("ok: empty rep of 2^63 in %.2f s" % secs)

# 3. Ctrl-C stops a bomb (default budget: minutes away) within a second.
for name, code in [("find", FIND_BOMB), ("table.move", "table.move({}, 1, 1e15, 1)")]:
    p = subprocess.Popen([BIN, "eval", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    if p.poll() is not None:
        fail("%s: ended before SIGINT: %s" % (name, p.communicate()))
        continue
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        fail("%s: SIGINT did not stop it within 10 s" % name)
        continue
    secs = time.monotonic() - t0
    if p.returncode != 1 or "(eval):1: interrupted" not in err or secs > 1.0:
        fail("%s: SIGINT: rc %d after %.2f s: %s" % (name, p.returncode, secs, err))
    else:
        print("ok: SIGINT stopped %s in %.2f s: %s" % (name, secs, err.splitlines()[0]))

# 4. Ordinary patterns on long strings: quick, and as Python computes them.
N = 100000
code = r'''
local parts = {}
for i = 1, %d do parts[i] = "k" .. i .. "=v" .. (i * 7) end
local s = "   " .. table.concat(parts, "; ") .. " on 2024-05-17.   "
local n, sum = 0, 0
for k, v in s:gmatch("(%%w+)=(%%w+)") do n = n + 1; sum = sum + tonumber(v:sub(2)) end
local t = s:match("^%%s*(.-)%%s*$")
local d = s:match("%%d%%d%%d%%d%%-%%d%%d%%-%%d%%d")
local g, c = s:gsub("k(%%d+)=", "%%1:")
print(n, sum, #t, d, #g, c, string.find(s, "k77777=v", 1, true))
''' % N
rc, out, secs = run(code, timeout=120)
parts = ["k%d=v%d" % (i, i * 7) for i in range(1, N + 1)]
s = "   " + "; ".join(parts) + " on 2024-05-17.   "
pairs = re.findall(r"([A-Za-z0-9]+)=([A-Za-z0-9]+)", s)
g, c = re.subn(r"k(\d+)=", r"\1:", s)
i = s.find("k77777=v")
want = "\t".join(str(x) for x in [len(pairs), sum(int(v[1:]) for _, v in pairs), len(s.strip()),
                                   "2024-05-17", len(g), c, i + 1, i + len("k77777=v")])
if rc != 0 or out.strip() != want:
    fail("ordinary patterns: rc %s, got %r, want %r" % (rc, out.strip(), want))
elif secs > 10:
    fail("ordinary patterns took %.1f s" % secs)
else:
    print("ok: ordinary patterns on %d bytes in %.2f s" % (len(s), secs))

print("%d failure(s)" % failures)
sys.exit(1 if failures else 0)
