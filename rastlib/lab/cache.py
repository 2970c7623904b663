"""Cache keys: a run is reused only if what made it is unchanged (its config, what the config leaves to the
machine, its starting weights, its training images, the code that trains or evaluates it)."""
import ast
import hashlib
import json
from pathlib import Path

from ..data import list_images
from ..paths import portable

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # rastlib/
# The modules (dotted, under rastlib/) whose code a training run depends on, and those an evaluation depends on
# (besides the functions of `runs` that evaluate: `runs.EVAL_FUNCTIONS`).
_MODEL = ("model.encoder", "model.decoder", "model.sanet", "model.rast", "model.ops", "model.perceptual",
          "model.similarity")
TRAIN_CODE = (*_MODEL, "model.discriminator", "data.images", "data.sets", "train.config", "train.graph",
              "train.losses", "train.system", "train.loop", "train.distributed", "train.checkpoint")
EVAL_CODE = (*_MODEL, "model.stylize", "eval.metrics", "train.losses", "train.checkpoint",
             "data.images", "data.sets")


_PARSED = {}  # sha256 of a source file's text -> (its tree without docstrings, that tree's ast.dump)


def _parsed(module):
    """(tree, dump) of a rastlib module's file under PACKAGE_DIR with its docstrings dropped, kept by the file's
    content: a grid asks for the same digests before every run, and parsing costs ~0.4 s a call."""
    text = (PACKAGE_DIR / f"{module.replace('.', '/')}.py").read_text()
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _PARSED:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        _PARSED[key] = tree, ast.dump(tree)
    return _PARSED[key]


def code_digest(modules, functions=()):
    """sha256 of the code of `modules` (dotted names of rastlib modules, read from PACKAGE_DIR) and of `functions` (each
    found by name in its module's file there, so an edit elsewhere in that file that shifts its lines does not
    count), parsed and with docstrings dropped: comments, docstrings and formatting do not invalidate a cache,
    any change to what runs does. The files are read on every call, so an edit is seen at once."""
    h = hashlib.sha256()
    for module in modules:
        h.update(_parsed(module)[1].encode())
    for f in functions:
        tree = _parsed(f.__module__.partition(".")[2])[0]  # "rastlib.lab.runs" -> "lab.runs"
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f.__name__]
        h.update((ast.dump(defs[0]) if defs else f"missing {f.__name__}").encode())
    return h.hexdigest()


def file_digest(path):
    """sha256 of a file's bytes ("" for no file: training from scratch)."""
    if not path:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def listing_digest(*folders):
    """sha256 of the image files' names and sizes under `folders` (cheap even for COCO; a rebuilt set changes
    it)."""
    h = hashlib.sha256()
    for folder in folders:
        for path in list_images(folder):
            h.update(f"{portable(str(path))}\0{path.stat().st_size}\n".encode())
    return h.hexdigest()


def run_key(cfg):
    """What a training run is a function of: its config (less where it is written), what the config leaves to
    the machine (the LPIPS backend "auto" resolves to; for amp "auto", the CPU's bf16 units the step probe
    decides by), its starting weights, its training images and the training code."""
    from ..model.perceptual import resolve_backend
    from ..train.probe import cpu_flags
    settings = {k: portable(v) for k, v in cfg.to_dict().items() if k != "out_dir"}
    settings["lpips_backend"] = resolve_backend(cfg.lpips_backend) if cfg.weights.get("lpips") else None
    if cfg.amp == "auto":
        settings["bf16_units"] = cpu_flags()["bf16_units"]
    return {"config": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
            "init_weights": file_digest(cfg.init_from), "data": listing_digest(cfg.content_dir, cfg.style_dir),
            "code": code_digest(TRAIN_CODE)}
