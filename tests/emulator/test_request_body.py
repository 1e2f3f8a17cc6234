"""Request bodies of the endpoints that take an expression: one set of checks.

value:compute, image:computePixels, thumbnails and image:export check their
bodies the same way: unknown fields with Google's wording (nested ones name
the object, as "file_export_options"), and an expression that is absent or
JSON null is "expression is required." at every one of them (proto3 JSON
reads null as absent; computePixels and value:compute used to evaluate the
null and answer "'expression' must be an object").
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

IMG = emulib.call("Image.constant", value=emulib.c(1))
GCS = {"cloudStorageDestination": {"bucket": "b"}}
# Each endpoint with the smallest body it would accept besides the expression.
ENDPOINTS = (
    ("/v1/projects/p/value:compute", {}),
    ("/v1/projects/p/image:computePixels", {"fileFormat": "NPY"}),
    ("/v1/projects/p/thumbnails", {"fileFormat": "PNG"}),
    ("/v1/projects/p/image:export", {"fileExportOptions": GCS}),
)


def message(emu, c, path, body):
    st, _, data = emu.post(path, body)
    c.check(st == 400, "%s %r: status %d, not 400" % (path, body, st))
    return c.ee_error(data, 400, "INVALID_ARGUMENT")


def main():
    c = emulib.Checks()
    with tempfile.TemporaryDirectory() as buckets:
        os.mkdir(os.path.join(buckets, "b"))
        with emulib.Emulator("--bucket-dir", buckets) as emu:
            for path, rest in ENDPOINTS:
                for expr in ({}, {"expression": None}):
                    m = message(emu, c, path, dict(rest, **expr))
                    c.check(m == "expression is required.",
                            "%s with %r: %r" % (path, expr, m))
                m = message(emu, c, path, dict(rest, expression=emulib.expr(IMG), bogus=1))
                c.check(m == 'Invalid JSON payload received. Unknown name "bogus": Cannot find '
                        'field.', "%s: %r" % (path, m))
                m = message(emu, c, path, dict(rest, expression=emulib.expr(IMG),
                                               workloadTag="Not valid"))
                c.check(m.startswith("Invalid workloadTag 'Not valid'"), "%s: %r" % (path, m))
            m = message(emu, c, "/v1/projects/p/image:export",
                        {"expression": emulib.expr(IMG),
                         "fileExportOptions": dict(GCS, bogus=1)})
            c.check(m == 'Invalid JSON payload received. Unknown name "bogus" at '
                    "'file_export_options': Cannot find field.", "export nested: %r" % m)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
