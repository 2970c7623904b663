"""The documentation stays short, linked and current (pure Python: no torch).

- README.md is at most `README_MAX_LINES` lines and has its sections; every file of docs/ is linked from it.
- Every relative link and image in README.md and docs/*.md resolves to a file or folder of the repository (not
  an ignored one), and every #anchor to a heading of its target.
- The benchmark tables that docs/performance.md copies from results/bench/ are the result files' current text:
  `python tests/test_docs.py --write` refreshes the copies after a new benchmark.
- The docs state what is true now: no dated episodes, no session or stop numbers, no lent machines (what a run
  did lives in its record under results/ and in git history).
- No absolute machine paths in tracked text files.
- LICENSE (the MIT licence pyproject.toml declares) and CITATION.cff exist.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200
README_SECTIONS = ("results at a glance", "install", "quick start", "notebooks", "tests", "documentation",
                   "citation", "licence", "acknowledgements")

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # http:, https:, mailto:, …

# Diary, not documentation: a date of an episode, a session or a stop of the work, a machine lent for a while.
HISTORY = (re.compile(r"\b20\d\d-\d\d-\d\d\b"), re.compile(r"\bsessions? \d", re.I), re.compile(r"\bstops? \d", re.I),
           re.compile(r"\blent (?:GPU|machine|H\d+|device)", re.I))

# Absolute paths of one machine. `/tmp/` is a legitimate temporary folder in code (and a pattern the notebook
# sanitisers match), so it is only refused in the documents.
MACHINE_PATH = re.compile(r"(?<![\w.~/$-])/(?:work|root|home|check)/")
DOC_TMP_PATH = re.compile(r"(?<![\w.~/$-])/tmp/")
MACHINE_PATH_SCOPE = ("README.md", "docs/*.md", "rastlib/**", "scripts/**", "notebooks/*.ipynb", "tests/*.py",
                      "results/**/*.md", "results/*.md")
# Files outside what the documentation work may edit that still hold a machine path, with the path: to fix in
# the file (then remove the entry: `test_known_machine_paths_are_still_there` says when).
KNOWN_MACHINE_PATHS = {
}

INCLUDE = re.compile(r"(<!-- include (\S+) -->\n)(.*?)(<!-- end include -->)", re.S)
DATE_IN_RESULT = re.compile(r"(?:[;,] )?\b20\d\d-\d\d-\d\d(?: \d\d:\d\d(?::\d\d)?(?: UTC)?)?")


def documents():
    return [README, *sorted(DOCS.glob("*.md"))]


def rel(path):
    return path.relative_to(ROOT).as_posix()


def prose_lines(path):
    """(line number, text) of a Markdown file outside fenced code blocks, inline code spans removed."""
    inside = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield n, CODE_SPAN.sub("", line)


def links(path):
    for n, line in prose_lines(path):
        for target in LINK.findall(line):
            yield n, target


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"`|\*\*?|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for _, line in prose_lines_keep_code(path):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            k = seen.get(base, 0)
            seen[base] = k + 1
            out.add(base if k == 0 else f"{base}-{k}")
    return out


def prose_lines_keep_code(path):
    inside = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            yield n, line


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"git is needed for this check: {e}")


def ignored(path):
    """Whether git ignores `path` (so a clone lacks it); False where git cannot tell."""
    try:
        r = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(path)], capture_output=True)
    except OSError:
        return False
    return r.returncode == 0


def rendered(result_file):
    """The text docs/performance.md copies from a result file: its headings two levels down, and without the
    measurement's date (the file keeps it)."""
    lines = []
    for line in (ROOT / result_file).read_text(encoding="utf-8").strip().splitlines():
        if line.startswith("#"):
            line = "##" + line
        lines.append(DATE_IN_RESULT.sub("", line))
    return "\n".join(lines) + "\n"


def sync_includes(write=False):
    """[(doc, result file)] of the copies that differ from their result file; rewrites them if `write`."""
    stale = []
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        new = INCLUDE.sub(lambda m: m.group(1) + rendered(m.group(2)) + m.group(4), text)
        for m in INCLUDE.finditer(text):
            if m.group(3) != rendered(m.group(2)):
                stale.append((rel(doc), m.group(2)))
        if write and new != text:
            doc.write_text(new, encoding="utf-8")
    return stale


def test_readme_is_short_and_has_its_sections():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): " \
                                           "move the detail into docs/ and link it"
    headings = [slug(line.lstrip("#")) for _, line in prose_lines_keep_code(README) if line.startswith("## ")]
    missing = [s for s in README_SECTIONS if slug(s) not in headings]
    assert not missing, f"README.md lacks the sections {missing} (it has {headings})"


def test_every_doc_is_linked_from_the_readme():
    linked = {(ROOT / t.split("#")[0]).resolve() for _, t in links(README) if not EXTERNAL.match(t)}
    unlinked = [rel(d) for d in DOCS.glob("*.md") if d.resolve() not in linked]
    assert DOCS.is_dir() and not unlinked, f"not linked from README.md: {unlinked}"


def test_relative_links_resolve():
    broken = []
    for doc in documents():
        for n, target in links(doc):
            if EXTERNAL.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            dest = (doc.parent / path_part).resolve() if path_part else doc
            where = f"{rel(doc)}:{n}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif ROOT not in dest.parents and dest != ROOT:
                broken.append(f"{where} (outside the repository)")
            elif ignored(dest):
                broken.append(f"{where} (ignored by git: not in a clone)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{where} (no heading with this anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_benchmark_tables_in_the_docs_are_current():
    stale = sync_includes()
    assert not stale, f"copies older than their result files: {stale}; run `python tests/test_docs.py --write`"


def test_docs_hold_no_history():
    found = []
    for doc in documents():
        for n, line in prose_lines_keep_code(doc):
            for pattern in HISTORY:
                m = pattern.search(line)
                if m:
                    found.append(f"{rel(doc)}:{n}: {m.group(0)!r} in {line.strip()[:100]!r}")
    assert not found, ("the docs state what is true now; what a run did belongs in its record under results/:\n"
                       + "\n".join(found))


def tracked(*patterns):
    names = git("ls-files", "-z", "--", *(f":(glob){p}" for p in patterns)).split("\0")
    return [ROOT / n for n in names if n and (ROOT / n).is_file()]


def test_no_absolute_machine_paths_in_tracked_files():
    this = Path(__file__).resolve()
    docs = {d.resolve() for d in documents()}
    files = {p.resolve() for p in tracked(*MACHINE_PATH_SCOPE)} | docs  # docs not yet committed count too
    found = []
    for path in sorted(files):
        if path == this or path.suffix in (".png", ".jpg", ".pt", ".pth"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        known = KNOWN_MACHINE_PATHS.get(rel(path))
        is_doc = path in docs or path.suffix == ".md"
        for n, line in enumerate(text.splitlines(), 1):
            if known and known in line:
                continue
            m = MACHINE_PATH.search(line) or (DOC_TMP_PATH.search(line) if is_doc else None)
            if m:
                found.append(f"{rel(path)}:{n}: {line.strip()[:120]!r}")
    assert not found, "absolute machine paths:\n" + "\n".join(found)


def test_known_machine_paths_are_still_there():
    """An entry of KNOWN_MACHINE_PATHS whose file no longer holds the path is stale: remove it."""
    fixed = [f for f, p in KNOWN_MACHINE_PATHS.items() if not (ROOT / f).is_file()
             or p not in (ROOT / f).read_text(encoding="utf-8")]
    assert not fixed, f"fixed, so remove from KNOWN_MACHINE_PATHS: {fixed}"


def test_licence_and_citation():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Permission is hereby granted" in licence
    assert re.search(r'license\s*=\s*\{\s*text\s*=\s*"MIT"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert "cff-version: 1.2.0" in cff and "license: MIT" in cff
    assert "RAST: Restorable Arbitrary Style Transfer via Multi-Restoration" in cff
    readme = README.read_text(encoding="utf-8")
    for key in ("ma2023rast", "karatyshchev2024enhancing", "park2019sanet", "huang2017adain"):
        assert f"{{{key}," in readme, f"README.md lacks the BibTeX entry {key}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        print("\n".join(f"{d}: {f}" for d, f in sync_includes(write=True)) or "the copies are current")
    else:
        sys.exit(f"usage: python {rel(Path(__file__).resolve())} --write   (refresh docs' copies of result files)")
