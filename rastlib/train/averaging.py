"""Weight averaging: one generator whose weights are the (weighted) mean of several checkpoints' generators.

Checkpoints along one training course, or fine-tuned from one start, sit in one basin of the loss; the mean of
their weights often lies lower in it than any of them (stochastic weight averaging, Izmailov et al. 2018; model
soups, Wortsman et al. 2022). Here the CPU runs swing between diagnoses (style up, reconstruction down, and back)
and the mean of points of a course holds both: results/demo_checkpoint/averaged/ has what it gave.
"""
import torch

from ..errors import CheckpointError
from ..paths import portable
from .checkpoint import generator_weights, load_checkpoint


def average_checkpoints(paths, weights=None):
    """A training-kind checkpoint dict whose generator (and contrastive heads, where every source has them) is
    the `weights`-weighted mean (default: equal) of the checkpoints at `paths` (of what each stands for,
    `checkpoint.generator_weights`), computed in fp32; the config is the first
    source's, the step the largest of theirs, and `averaged_from` lists every source with its step and weight.

    Sources must share the architecture (the same parameter names and shapes); otherwise a `CheckpointError`
    says which parameter differs. The discriminators and optimiser states are not averaged (they are dropped): a
    run started from the result warms its discriminators up afresh, as it does from an exported file.
    """
    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise CheckpointError(f"averaging needs at least two checkpoints, got {len(paths)}")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or min(weights) < 0 or sum(weights) <= 0:
        raise CheckpointError(f"weights must be {len(paths)} numbers ≥ 0 with a positive sum, got {weights}")
    weights = [w / sum(weights) for w in weights]
    ckpts = [load_checkpoint(p) for p in paths]
    generators = [generator_weights(c) for c in ckpts]  # a run's weight average where it kept one
    generator = {part: _mean([g.get(part) for g in generators], weights, paths, part) for part in generators[0]}
    heads = (_mean([c["heads"] for c in ckpts], weights, paths, "heads")
             if all(c.get("heads") for c in ckpts) else None)
    first = ckpts[0]
    return {"format": first["format"], "version": first["version"], "kind": "train", "config": first["config"],
            "step": max(c["step"] for c in ckpts), "generator": generator, "heads": heads,
            "averaged_from": [{"path": portable(p), "step": c["step"], "weight": round(w, 6)}
                              for p, c, w in zip(paths, ckpts, weights)]}


def _mean(states, weights, paths, part):
    """The weighted mean of state dicts (fp32), refusing any that lacks a parameter or has another shape."""
    if any(s is None for s in states):
        missing = paths[next(i for i, s in enumerate(states) if s is None)]
        raise CheckpointError(f"{missing} has no '{part}' weights: only checkpoints of one architecture average")
    ref = states[0]
    for path, state in zip(paths[1:], states[1:]):
        for name in ref.keys() | state.keys():
            a, b = ref.get(name), state.get(name)
            if a is None or b is None or a.shape != b.shape:
                raise CheckpointError(f"{paths[0]} and {path} differ at {part}.{name} "
                                      f"({None if a is None else tuple(a.shape)} against "
                                      f"{None if b is None else tuple(b.shape)}): only checkpoints of one "
                                      "architecture average")
    return {name: sum(w * s[name].float() for w, s in zip(weights, states)) if ref[name].is_floating_point()
            else ref[name].clone() for name in ref}
