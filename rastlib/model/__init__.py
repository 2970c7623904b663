"""The networks: the frozen VGG19 encoder, SANet's attention transform, the decoder, RAST itself (`rast`), the
discriminators, the LPIPS networks (`perceptual`), the shared ops, SSIM and PSNR (`similarity`: metrics and a loss
term), and `stylize`, which applies a model to images of any size. May import the base modules and `data`; nothing
of train, eval, app or lab."""
from .rast import RAST, ProjectionHeads

__all__ = ["RAST", "ProjectionHeads"]
