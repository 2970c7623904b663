"""The package draws its architecture: layers that import one way (base ← data ← model ← train ← eval ← app ←
lab), and modules short enough to read. Lazy imports inside functions count too."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rastlib"
LAYERS = ("base", "data", "model", "train", "eval", "app", "lab")
BASE = {"errors", "paths", "atomic", "_compat", "_moved", "progress"}
FACE = {"__init__", "__main__"}  # the package's public face imports from every layer
MAX_LINES = 420


def layer(dotted):
    """'rastlib.train.loop' -> 'train'; 'rastlib.errors' -> 'base'; 'rastlib' -> None (the face)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return None
    return "base" if parts[1] in BASE else parts[1]


def imports_of(path, root):
    """(line, dotted rastlib module) for every import of the package in `path`, relative ones resolved."""
    rel = path.relative_to(root.parent).with_suffix("")
    module = ".".join(rel.parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if path.name == "__init__.py":
        module = package
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == root.name:
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root.name:
                continue
            if node.module is None or (not node.level and target == root.name):
                for a in node.names:  # from . import distributed / from rastlib import lab
                    yield node.lineno, f"{target}.{a.name}"
            else:
                yield node.lineno, target


def violations(root=PACKAGE):
    """Every import that runs against the layers, as 'file:line imports target (layer a -> layer b)'."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.stem in FACE and path.parent == root or "_bundled" in path.parts:
            continue
        rel = path.relative_to(root.parent).with_suffix("")
        source = layer(".".join(rel.parts)) or "base"
        for line, target in imports_of(path, root):
            to = layer(target)
            if to is None or LAYERS.index(to) > LAYERS.index(source):
                found.append(f"{path.relative_to(root.parent)}:{line} imports {target} ({source} -> {to or 'the face'})")
    return found


def test_imports_run_one_way():
    assert violations() == []


def test_every_module_belongs_to_a_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if "_bundled" in rel.parts or (len(rel.parts) == 1 and path.stem in FACE):
            continue
        assert layer(".".join(("rastlib",) + rel.with_suffix("").parts)) in LAYERS, rel


def test_the_check_finds_an_import_that_runs_back(tmp_path):
    root = tmp_path / "rastlib"
    for sub in ("model", "train", "eval"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "errors.py").write_text("")
    (root / "model" / "rast.py").write_text("from ..errors import X\nfrom .ops import y\n"
                                            "def f():\n    from ..train.loop import Trainer\n")
    (root / "model" / "ops.py").write_text("import rastlib.eval.metrics\n")
    (root / "train" / "loop.py").write_text("from ..model import rast\nfrom . import config\n")
    (root / "eval" / "metrics.py").write_text("from rastlib import lab\n")
    assert violations(root) == [
        "rastlib/eval/metrics.py:1 imports rastlib.lab (eval -> lab)",
        "rastlib/model/ops.py:1 imports rastlib.eval.metrics (model -> eval)",
        "rastlib/model/rast.py:4 imports rastlib.train.loop (model -> train)",
    ]


def test_modules_are_short_enough_to_read():
    long = {p.relative_to(PACKAGE).as_posix(): n for p in PACKAGE.rglob("*.py") if "_bundled" not in p.parts
            and (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}

