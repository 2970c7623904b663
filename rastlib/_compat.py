"""Import torchvision on every supported torch build.

The pinned CPU build (torch 2.13.0+cpu) sits beside PyPI's torchvision 0.28.0, whose C++ ops are
CUDA-linked and do not load; torchvision then fails at import on `register_fake("torchvision::nms")`.
We declare the two ops it registers fakes for, only when the plain import fails (declaring them where
the ops do load aborts the process). The kit itself needs no torchvision op; `lpips`/`stlpips` import it.
"""
import sys

import torch

_TV_LIB = None


def import_torchvision():
    """Return the torchvision module, applying the op shim if the first import fails."""
    global _TV_LIB
    try:
        import torchvision
        return torchvision
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]
    _TV_LIB = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        _TV_LIB.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision
    return torchvision
