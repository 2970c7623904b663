"""The restoration graph of one training step, built lazily: each image is made and encoded at most once.

Names follow the paper. With content I_c and style I_s:

    I_o   = T(I_c, I_s)    stylised content              I_o'  = T(I_s, I_c)   style image in the photo's style
    I_c'  = T(I_o, I_c)    content restored (right)      I_s'  = T(I_s, I_o)   style restored (right)
    I_c'' = T(I_c, I_o')   content restored (left)       I_s'' = T(I_o', I_s)  style restored (left)
    I_cc  = T(I_c, I_c)    identity                      I_ss  = T(I_s, I_s)   identity
    I_oo  = T(I_o, I_s)    re-stylised output (idempotency)

A loss asks for `g[name]` (the image) or `g.feats(name)` (its five VGG taps); only what the enabled losses ask
for is computed, and the VGG features of every image are computed once and shared by all losses
(the official code re-encodes on each use).
"""
from dataclasses import dataclass

import torch

IMAGE_FORMULAS = {
    "I_o": ("I_c", "I_s"),
    "I_o'": ("I_s", "I_c"),
    "I_c'": ("I_o", "I_c"),
    "I_s'": ("I_s", "I_o"),
    "I_c''": ("I_c", "I_o'"),
    "I_s''": ("I_o'", "I_s"),
    "I_cc": ("I_c", "I_c"),
    "I_ss": ("I_s", "I_s"),
    "I_oo": ("I_o", "I_s"),
}


@dataclass
class LossSettings:
    """Constants of the loss terms: style-difference epsilon, InfoNCE temperature, multirestoration scales and
    whether its gradient stops at the stylised image."""
    style_difference_eps: float = 1e-3
    tau: float = 0.2
    multirestoration_scales: tuple = (256, 128, 64)
    multirestoration_detach: bool = False


class RestorationGraph:
    """Lazily computed images and VGG features of one step, plus what the losses need besides the model.

    content_ids / style_ids: integer ids of each row's content and style image (the contrastive pair trick);
    heads: `ProjectionHeads`; d_style / d_content: the discriminators D1 (style vs I_o) and D2 (content vs I_o');
    perceptual: an LPIPS module. Each is only needed by the losses that use it.
    generator: what computes `decode_transfer` (default `model`; its DistributedDataParallel wrapper under torchrun).
    """

    def __init__(self, model, content, style, content_ids=None, style_ids=None, heads=None,
                 d_style=None, d_content=None, perceptual=None, settings=None, generator=None):
        self.model = model
        self.generator = generator or model
        self.images = {"I_c": content, "I_s": style}
        self._feats = {}
        self.content_ids, self.style_ids = content_ids, style_ids
        self.heads, self.d_style, self.d_content, self.perceptual = heads, d_style, d_content, perceptual
        self.settings = settings or LossSettings()
        self.n_encodes = 0
        self.n_transfers = 0
        self._projections = None

    def __getitem__(self, name):
        if name not in self.images:
            if name not in IMAGE_FORMULAS:
                raise KeyError(f"unknown image {name!r}; known: {['I_c', 'I_s', *IMAGE_FORMULAS]}")
            c, s = IMAGE_FORMULAS[name]
            self.images[name] = self.decode_transfer(self.feats(c), self.feats(s))
        return self.images[name]

    def decode_transfer(self, content_feats, style_feats):
        """The decoded SANet transform of two images' taps (counted in `n_transfers`)."""
        self.n_transfers += 1
        return self.generator(content_feats, style_feats)

    def projections(self):
        """(style, content) embeddings of I_o by the contrastive heads (relu3_1, relu4_1), computed once a step for
        both contrastive terms."""
        if self._projections is None:
            feats = self.feats("I_o")
            self._projections = self.heads(feats[2], feats[3])
        return self._projections

    def feats(self, name):
        """The five VGG taps of image `name` (inputs encoded without grad; generated images with grad)."""
        if name not in self._feats:
            img = self[name]
            if name in ("I_c", "I_s"):
                with torch.no_grad():
                    self._feats[name] = self.model.encode(img)
            else:
                self._feats[name] = self.model.encode(img)
            self.n_encodes += 1
        return self._feats[name]
