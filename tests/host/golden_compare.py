"""Comparison of Earth Engine expressions as JSON values, for the golden test.

Value names ("0", "1", ...) are labels: two serializers may number shared
values in a different order (the JS client numbers them in argument-insertion
order, eefetch in sorted order). canonical() renames them by first visit from
the result, visiting object keys in sorted order, so equal graphs compare
equal and anything else (a different function, argument, constant, a value
shared or inlined differently) does not.
"""
import sys

# A long chain is many named values, each walked from the one that names it:
# a 1000-call chain recurses about 3000 levels here.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


def canonical(expr):
    values = expr["values"]
    names = {}

    def name_of(ref):
        if ref not in names:
            names[ref] = str(len(names))
            out[names[ref]] = None
            out[names[ref]] = walk(values[ref])
        return names[ref]

    def walk(node):
        if isinstance(node, dict):
            res = {}
            for k in sorted(node):
                v = node[k]
                if k == "valueReference" or k == "functionReference":
                    res[k] = name_of(v)
                elif k == "functionDefinitionValue":
                    res[k] = {"argumentNames": v["argumentNames"], "body": name_of(v["body"])}
                elif k == "constantValue":
                    res[k] = v
                else:
                    res[k] = walk(v)
            return res
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    out = {}
    root = name_of(expr["result"])
    return {"result": root, "values": out}


def same(a, b):
    return canonical(a) == canonical(b)
