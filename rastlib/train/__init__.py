"""Training: the config and its presets (`config`), the restoration graph and the loss terms (`graph`,
`losses`), what is trained (`system`: model, heads, discriminators, optimisers) and the loop that steps it
(`loop`), distributed training, checkpoints, and the CPU step probe (`probe`). May import the base modules, data
and model; nothing of eval, app or lab."""
from .loop import Trainer, TrainingError, TrainingStopped, pair_trick, read_log, resolve_device, train

__all__ = ["Trainer", "TrainingError", "TrainingStopped", "pair_trick", "read_log", "resolve_device", "train"]
