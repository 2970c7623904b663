"""Data: image files in and out (`images`), the training sets and their samplers and the bundled demo set
(`sets`), the public data sets' downloads (`download`). Imports only the base modules (errors, paths, atomic)."""
from .images import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, first_readable, list_images, load_image, open_image,
                     save_image, to_pil, to_rgb, to_tensor)
from .sets import (ImageFolder, InfiniteSampler, ShardSampler, demo_content_dir, demo_eval_content_dir,
                   demo_eval_style_dir, demo_root, demo_style_dir)

__all__ = [
    "IMAGE_EXTENSIONS", "DEFAULT_MAX_PIXELS", "open_image", "to_rgb", "to_tensor", "to_pil", "save_image",
    "load_image", "list_images", "first_readable", "ImageFolder", "InfiniteSampler", "ShardSampler", "demo_root",
    "demo_content_dir", "demo_style_dir", "demo_eval_content_dir", "demo_eval_style_dir",
]
