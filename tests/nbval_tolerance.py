"""pytest plugin for the notebook checks (`-p nbval_tolerance`): nbval compares outputs as text, so a number that
another CPU's kernels round one way and the reference's the other (1.88 ± 0.09 against 1.87 ± 0.08) would fail
the check although the notebook shows the same thing. Before nbval compares a cell, every number of the executed
output that sits where the reference has a number, in otherwise identical text, and agrees with it within
`close` is written as the reference writes it. Any other difference (text, a verdict, a number beyond the
tolerance, a number more or fewer) is left for nbval's strict comparison to catch.

Two more things follow the CPU rather than the code, and are aligned the same way:
- a spread (a number after "± ": the sample std over the smoke runs' two seeds, |a − b| / √2 of two nearly equal
  values) agrees within `SPREAD` of the larger: between an AMD EPYC and an Intel Xeon on the same code paths the
  tables' stds moved by up to 17 % (idempotency_mse's 4.5e-08 → 5.4e-08) while their means moved by ≤ 0.11 %;
- a verdict label, on a line of a claims table that differs from the reference's only there, when both Holm
  p-values lie within ×`EDGE` of α: at the decision's edge the label follows the last digits (Holm p 0.0493
  "reproduced" on the machine that wrote the references, over α on an Intel Xeon). Labels of claims away from
  the edge are compared as they are.
"""
import re

import nbformat
from nbval.plugin import IPyNbCell

from rastlib.lab.verdicts import ALPHA, LABELS

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TEXT = ("text/plain", "text/markdown", "text/html")  # not images: their base64 holds "numbers" too
RELATIVE = 1e-3  # kernel rounding moves results by ~1e-6 relative; a real change of a table moves them by more
SPREAD = 0.3
EDGE = 1.5
VERDICT = re.compile(r"\*\*(" + "|".join(map(re.escape, LABELS)) + r")\*\*")
HOLM = re.compile(r"Holm p = (" + NUMBER.pattern + ")")


def unit(text):
    """One unit in the last digit `text` prints: '1.88' → 0.01, '5e-08' → 1e-08, '12' → 1."""
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def close(a, b, relative=RELATIVE):
    """Two printed numbers agree: within one unit of the coarser last digit, or `relative` of the larger."""
    x, y = float(a), float(b)
    try:
        return abs(x - y) <= max(unit(a), unit(b)) * (1 + 1e-9) + relative * max(abs(x), abs(y))
    except OverflowError:  # an exponent past float's range: not a table number
        return False


def at_edge(line):
    """The line's Holm p-value lies within ×EDGE of α (False when it has none)."""
    found = HOLM.search(line)
    return bool(found) and ALPHA / EDGE <= float(found.group(1)) <= ALPHA * EDGE


def align_line(test, ref):
    """One line of `test` aligned to the reference's line `ref` (see the module docstring)."""
    labels = VERDICT.search(test), VERDICT.search(ref)
    if all(labels) and labels[0].group(1) != labels[1].group(1) and at_edge(test) and at_edge(ref):
        test = VERDICT.sub(lambda _: labels[1].group(0), test, count=1)
    parts = NUMBER.split(test)
    if parts != NUMBER.split(ref):  # same text around the numbers, so as many numbers in both
        return test
    t_nums, r_nums = NUMBER.findall(test), NUMBER.findall(ref)
    out = [parts[0]]
    for t, r, after in zip(t_nums, r_nums, parts[1:]):
        out += [r if close(t, r, SPREAD if out[-1].endswith("± ") else RELATIVE) else t, after]
    return "".join(out)


def align(test, ref):
    """`test` with each number that agrees with the reference's number at the same place spelt as the
    reference spells it, line by line; a line whose text around the numbers differs is left as it is."""
    if not (isinstance(test, str) and isinstance(ref, str)):
        return test
    t_lines, r_lines = test.split("\n"), ref.split("\n")
    if len(t_lines) != len(r_lines):
        return test
    return "\n".join(align_line(t, r) for t, r in zip(t_lines, r_lines))


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
