"""Batch stylisation: every content × every style of two folders, resumable, with a contact sheet."""
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from ..data import list_images, load_image, save_image
from ..errors import ImageError
from ..eval.viz import contact_sheet
from ..model.stylize import output_name, stylize


def stylize_folder(model, content_dir, style_dir, out_dir, size=512, max_size=2048, alpha=1.0, preserve_color=None,
                   progress=True):
    """Every content × every style → `out_dir/<content>__<style>.png`, plus `contact_sheet.png`.

    Resumable: a pair whose output exists is skipped (outputs are written atomically, so an existing file is
    whole). An unreadable image is skipped with one warning and counted. Returns the counts.
    """
    contents, styles = list_images(content_dir), list_images(style_dir)
    out_dir = Path(out_dir)
    counts = {"written": 0, "existing": 0, "unreadable": 0}
    loaded, bad = {}, set()

    def load(path):  # styles stay loaded (every content uses them); None for an unreadable file
        if path not in loaded and path not in bad:
            try:
                loaded[path] = load_image(path, size=size, max_size=max_size)
            except ImageError as e:
                bad.add(path)
                counts["unreadable"] += 1
                warnings.warn(f"skipping unreadable image: {e}", stacklevel=3)
        return loaded.get(path)

    for c in tqdm(contents, desc="contents", disable=not progress):
        todo = [s for s in styles if not (out_dir / output_name(c, s)).exists()]
        counts["existing"] += len(styles) - len(todo)
        content = load(c) if todo else None
        for s in todo if content is not None else []:
            style = load(s)
            if style is not None:
                out = stylize(model, content, style, alpha=alpha, preserve_color=preserve_color)
                save_image(out[0].cpu(), out_dir / output_name(c, s))
                counts["written"] += 1
        loaded.pop(c, None)
    contact_sheet(out_dir, [c for c in contents if c not in bad], [s for s in styles if s not in bad],
                  out_dir / "contact_sheet.png")
    return counts
