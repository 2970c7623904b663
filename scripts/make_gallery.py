"""The README gallery, from the committed checkpoint: one content image in three styles, without and with colour
preservation, and a row of style interpolations. Writes results/gallery/{styles,interpolation}.png.

    python scripts/make_gallery.py [--size 256] [--out results/gallery]
"""
import argparse

from rastlib import load_image, load_model
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.viz import colour_strip, interpolation_strip

CONTENT = "skimage_chelsea.jpg"
STYLES = ("hokusai_the_great_wave_off_kanagawa.jpg", "gogh_village_street_in_auvers.jpg",
          "kandinsky_composition_viii.jpg")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", default="results/gallery")
    args = ap.parse_args()
    model = load_model()
    content = load_image(demo_eval_content_dir() / CONTENT, size=args.size).unsqueeze(0)
    styles = [load_image(demo_eval_style_dir() / s, size=args.size).unsqueeze(0) for s in STYLES]
    colour_strip(model, content, styles, f"{args.out}/styles.png")
    interpolation_strip(model, content, styles[0], styles[1], f"{args.out}/interpolation.png")
    print(f"{args.out}/styles.png", f"{args.out}/interpolation.png")


if __name__ == "__main__":
    main()
