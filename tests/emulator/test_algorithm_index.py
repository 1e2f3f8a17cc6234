"""docs/emulator.md names every function the emulator implements: each name
algorithms.list answers appears in the document (as `Prefix.name`, or in a
`Prefix.a/b/c` group), so a function added without documentation fails here."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

DOC = os.path.join(os.environ["EEFETCH_SRC"], "docs", "emulator.md")


def documented_names(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)       # code blocks pair no backticks
    names = set()
    for tok in re.findall(r"`([^`\n]+)`", text):
        for part in re.split(r"[,\s]+", tok):
            part = part.split("(")[0].strip(".")
            names.add(part)
            m = re.match(r"^([A-Za-z]+(?:\.[A-Za-z]+)*)\.([A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*)$", part)
            if m:
                names.update(m.group(1) + "." + leaf for leaf in m.group(2).split("/"))
    return names


def main():
    with emulib.Emulator("--no-auth") as emu:
        status, _, body = emu.get("/v1/projects/p/algorithms")
    if status != 200:
        print("FAIL: algorithms.list answered %d" % status)
        return 1
    listed = [a["name"].split("/", 1)[1] for a in json.loads(body)["algorithms"]]
    with open(DOC) as f:
        documented = documented_names(f.read())
    missing = [n for n in listed if n not in documented]
    if len(listed) < 300:
        print("FAIL: only %d algorithms listed" % len(listed))
        return 1
    if missing:
        print("FAIL: %d implemented functions are not in docs/emulator.md: %s" % (len(missing), ", ".join(missing)))
        return 1
    print("ok: all %d listed functions are documented" % len(listed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
