"""pytest plugin for the notebook checks (`-p nbval_tolerance`): nbval compares outputs as text, so a number that
another CPU's kernels round one way and the reference's the other (1.88 ± 0.09 against 1.87 ± 0.08) would fail
the check although the notebook shows the same thing. Before nbval compares a cell, every number of the executed
output that sits where the reference has a number, in otherwise identical text, and agrees with it within
`close` is written as the reference writes it. Any other difference (text, a verdict, a number beyond the
tolerance, a number more or fewer) is left for nbval's strict comparison to catch.
"""
import re

import nbformat
from nbval.plugin import IPyNbCell

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TEXT = ("text/plain", "text/markdown", "text/html")  # not images: their base64 holds "numbers" too
RELATIVE = 1e-3  # kernel rounding moves results by ~1e-6 relative; a real change of a table moves them by more


def unit(text):
    """One unit in the last digit `text` prints: '1.88' → 0.01, '5e-08' → 1e-08, '12' → 1."""
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def close(a, b):
    """Two printed numbers agree: within one unit of the coarser last digit, or 0.1 % of the larger."""
    x, y = float(a), float(b)
    try:
        return abs(x - y) <= max(unit(a), unit(b)) * (1 + 1e-9) + RELATIVE * max(abs(x), abs(y))
    except OverflowError:  # an exponent past float's range: not a table number
        return False


def align(test, ref):
    """`test` with each number that agrees with the reference's number at the same place spelt as the
    reference spells it; `test` unchanged when the text around the numbers differs."""
    if not (isinstance(test, str) and isinstance(ref, str)):
        return test
    parts = NUMBER.split(test)
    if parts != NUMBER.split(ref):  # same text around the numbers, so as many numbers in both
        return test
    t_nums, r_nums = NUMBER.findall(test), NUMBER.findall(ref)
    out = [parts[0]]
    for t, r, after in zip(t_nums, r_nums, parts[1:]):
        out += [r if close(t, r) else t, after]
    return "".join(out)


def _aligned(test, ref):
    """Outputs `test` with their data aligned to the reference outputs `ref` of the same place and kind."""
    if len(test) != len(ref):
        return test
    result = []
    for t, r in zip(test, ref):
        t = dict(t)
        if isinstance(t.get("data"), dict) and isinstance(r.get("data"), dict):
            t["data"] = {k: align(v, r["data"].get(k)) if k in TEXT else v for k, v in t["data"].items()}
        if "text" in t and "text" in r:
            t["text"] = align(t["text"], r["text"])
        result.append(nbformat.from_dict(t))
    return result


_compare = IPyNbCell.compare_outputs


def compare_outputs(self, test, ref, skip_compare=None):
    return _compare(self, _aligned(test, ref), ref, skip_compare)


IPyNbCell.compare_outputs = compare_outputs
