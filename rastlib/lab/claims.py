"""The seed paper's claims as `Claim`s with their verdicts, per notebook."""
from pathlib import Path

from ..errors import ConfigError
from .records import write_claims, write_summary
from .verdicts import Claim, judge, verdicts_markdown

STYLISATION = "style_distance_2nd_output_style"  # style statistics of I_o vs I_s by AlexNet: lower = more stylised
RESTORATION = "restoration_ssim"                 # SSIM(I_c, I_c') at the evaluation size
LPIPS_SCORE = "lpips_output_content"             # LPIPS(I_o, I_c) by AlexNet (training's LPIPS is VGG16's)
EQUIVALENCE_MARGIN = 0.05                        # "Maintained": within ±5 % of the full model's mean

# Table 1 of the seed, row by row: the loss removed, then what it says of stylisation, restoration and LPIPS.
TABLE1 = (("content", "Content Loss", "Degraded", "Maintained", "Increased"),
          ("style", "Style Loss", "Maintained", "Degraded", "Increased"),
          ("restoration", "Restoration Loss", "Degraded", "Significantly Degraded", "Increased"),
          ("adversarial", "Adversarial Loss", "Slight Degradation", "Maintained", "Slightly Increased"),
          ("idempotency", "Idempotency Loss", "Degraded", "Maintained", "Increased"),
          ("lpips", "LPIPS Loss", "Maintained", "Maintained", "Decreased"))
# What each of the seed's words means for a metric where lower / higher is better: the expected direction of
# the ablated variant against `full`.
_WORSE = {"lower": "higher", "higher": "lower"}


def _table1_claim(group, loss, column, word, metric, better):
    if word == "Maintained":
        expect = "same"
    elif word in ("Increased", "Slightly Increased"):
        expect = "higher"
    elif word == "Decreased":
        expect = "lower"
    else:  # Degraded, Slight Degradation, Significantly Degraded
        expect = _WORSE[better]
    said = word.lower().replace("slight degradation", "slightly degraded")
    return Claim(f"Table 1, {loss} removed", f"without the {group} loss group, {column} is {said}", metric,
                 f"no_{group}", "full", expect, EQUIVALENCE_MARGIN if expect == "same" else 0.0, seed_says=word)


SEED_TABLE2 = {256: (0.85, 0.78), 128: (0.80, 0.70), 64: (0.75, 0.65)}  # with / without L_mr (the seed's)


def seed_claims(notebook, budget):
    """The seed's claims a notebook tests, as `verdicts.Claim`s (no two alike within a notebook)."""
    if notebook == "02_ablation":
        return [claim for group, loss, *words in TABLE1
                for column, word, metric, better in zip(("stylisation", "restoration", "the LPIPS score"), words,
                                                        (STYLISATION, RESTORATION, LPIPS_SCORE),
                                                        ("lower", "higher", "lower"))
                for claim in [_table1_claim(group, loss, column, word, metric, better)]]
    if notebook == "03_idempotency":
        return [Claim("§3.2 / §4.3", "the idempotency loss makes T(T(c, s), s) closer to T(c, s)",
                      "idempotency_mse", "full", "no_idempotency", "lower", seed_says="its aim (no number)"),
                Claim("§4.3", "the idempotency loss hurts stylisation", STYLISATION, "full", "no_idempotency",
                      "higher", seed_says="artifacts, less coherent style (Figure 1; no number)")]
    if notebook == "04_multirestoration":
        return [Claim(f"Table 2, {r}×{r}", f"the low-resolution multirestoration loss improves restoration at {r} px",
                      f"restoration_ssim_{r}", "full", "no_multirestoration", "higher",
                      seed_says=(f"{SEED_TABLE2[r][0]:.2f} with vs {SEED_TABLE2[r][1]:.2f} without"
                                 if r in SEED_TABLE2 else "(no number at this size)"))
                for r in budget.restoration_scales]
    if notebook == "05_lpips":
        return [Claim("Table 3", "the LPIPS loss lowers the LPIPS score", LPIPS_SCORE, "full", "no_lpips", "lower",
                      seed_says="0.30 with vs 0.45 without (RAST baseline)")]
    if notebook == "06_simplified":
        return [Claim("§4.6", "the simplified architecture is faster at inference", "inference_seconds",
                      "simplified", "full", "lower", seed_says="faster (no number)"),
                Claim("§4.6", "the simplified architecture stylises marginally worse", STYLISATION, "simplified",
                      "full", "higher", seed_says="marginal decrease (Figure 3; no number)")]
    raise ConfigError(f"no seed claims for notebook {notebook!r}")


def label_claims(notebook, rows, budget, out_dir):
    """Judge the notebook's seed claims (`verdicts.judge`: t-tests, Holm over the notebook's claims), save
    claims.json and refresh the summary; returns the Markdown table."""
    claims = judge(rows, seed_claims(notebook, budget))
    write_claims(out_dir, notebook, budget, claims)
    write_summary(Path(out_dir).parent)
    return verdicts_markdown(claims)
