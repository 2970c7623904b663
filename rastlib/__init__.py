"""rastlib: restorable arbitrary style transfer (RAST) and the seed paper's improvements.

    from rastlib import load_model, load_image
    model = load_model()                      # the committed demo checkpoint
    out = model.T(load_image("c.jpg", 512), load_image("s.jpg", 512), alpha=0.8)

The package in layers, each importing only those before it (tests/test_layers.py):
    errors, paths, atomic, progress  the base: no model code
    data/    image files, the training sets, the public data sets' downloads
    model/   the networks (encoder, SANet transform, decoder, RAST, discriminators, LPIPS) and `stylize`
    train/   config, restoration graph, losses, the training system and loop, checkpoints, the CPU probe
    eval/    metrics and `diagnose`, the model bar, ArtFID, parity with the official code, benchmarks, figures
    app/     the command line, folder batches, the demo, the recipe of the demo checkpoint
    lab/     the seed paper's experiments (variants, budgets, cached runs, records, claims, verdicts)
"""
from . import _moved
from .data import load_image, save_image
from .errors import RastError
from .model import RAST
from .train.checkpoint import load_model
from .train.config import LOSS_PRESETS, make_config

_moved.install()  # the flat module names of 0.1 (rastlib.stylize, …) as deprecated aliases

__version__ = "0.1.0"
__all__ = ["RAST", "load_model", "load_image", "save_image", "make_config", "LOSS_PRESETS", "RastError"]
