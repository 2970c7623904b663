"""Old module names, kept as thin aliases: until 0.2 rastlib was one flat folder (`rastlib.stylize`,
`rastlib.metrics`, …); those names still import, with a DeprecationWarning naming the new place. `rastlib.data`,
`rastlib.model` and `rastlib.train` are the subpackages themselves, which re-export their old names."""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "download": "data.download", "ops": "model.ops", "encoder": "model.encoder", "sanet": "model.sanet",
    "decoder": "model.decoder", "discriminator": "model.discriminator", "perceptual": "model.perceptual",
    "stylize": "model.stylize", "config": "train.config", "graph": "train.graph", "losses": "train.losses",
    "system": "train.system", "distributed": "train.distributed", "checkpoint": "train.checkpoint",
    "probe": "train.probe", "similarity": "model.similarity", "metrics": "eval.metrics", "bar": "eval.bar",
    "artfid": "eval.artfid", "upstream": "eval.upstream", "bench": "eval.bench", "viz": "eval.viz",
    "batch": "app.batch", "demo": "app.demo", "cli": "app.cli", "recipe": "app.recipe", "experiments": "lab",
    "verdicts": "lab.verdicts",
    "eval.similarity": "model.similarity",  # SSIM moved below train: a loss term uses it
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `rastlib.<old>` as the module now at `rastlib.<new>` (the same module object)."""

    def find_spec(self, name, path=None, target=None):
        package, _, old = name.partition(".")
        if package == "rastlib" and old in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        new = "rastlib." + MOVED[spec.name.partition(".")[2]]
        warnings.warn(f"{spec.name} is now {new}; the old name will be removed in 0.2", DeprecationWarning,
                      stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # already executed under its new name


def install():
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())  # before an editable install's finder, which knows the old files
