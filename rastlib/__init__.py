"""rastlib: restorable arbitrary style transfer (RAST) and the seed paper's improvements.

    from rastlib import load_model, load_image
    model = load_model()                      # the committed demo checkpoint
    out = model.T(load_image("c.jpg", 512), load_image("s.jpg", 512), alpha=0.8)
"""
from .checkpoint import load_model
from .config import LOSS_PRESETS, make_config
from .data import load_image, save_image
from .errors import RastError
from .model import RAST

__version__ = "0.1.0"
__all__ = ["RAST", "load_model", "load_image", "save_image", "make_config", "LOSS_PRESETS", "RastError"]
