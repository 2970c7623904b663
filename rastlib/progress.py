"""Progress as plain text lines: one line as each item of a loop finishes ("demo: 3/6"), no carriage returns and
no widget. A saved notebook then shows how far its loops got (a tqdm widget shows 0 % in any static view of the
notebook, and its text form depends on timing), and a log file reads the same as the terminal."""
import sys


def progress(items, desc, enabled=True, label=None, out=None):
    """Yield from `items`; after each, print "desc: k/n" (with `label(item)` after it, if given) to `out`
    (stdout by default)."""
    items = list(items)
    for k, item in enumerate(items, 1):
        yield item
        if enabled:
            print(f"{desc}: {k}/{len(items)}" + (f" {label(item)}" if label else ""), file=out or sys.stdout,
                  flush=True)
