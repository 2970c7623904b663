"""The notebook checks' comparison (tests/nbval_tolerance.py, then the sanitisers of tests/nbval_sanitize.cfg, as
nbval applies them) holds the smoke references on any x86 CPU: tables and verdicts rendered by the kit's own code
from inputs perturbed as another CPU's kernels perturb them compare equal, while a real change of a table or of a
verdict away from α's edge still fails."""
import configparser
import re
from pathlib import Path

import numpy as np
import pytest
from nbval_tolerance import EDGE, SPREAD, align, close, unit
from scipy import optimize

from rastlib.lab import write_table
from rastlib.lab.verdicts import ALPHA, Claim, judge, verdicts_markdown

SANITIZERS = Path(__file__).parent / "nbval_sanitize.cfg"
METRICS = ["style_distance_2nd_output_style", "restoration_ssim", "idempotency_mse"]


def sanitize(text):
    """nbval's sanitising of an output: each section's regex replaced, in the file's order."""
    cfg = configparser.ConfigParser()
    cfg.read(SANITIZERS)
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def same(test, ref):
    """What nbval decides for one text output, with the plugin loaded."""
    return sanitize(align(test, ref)) == sanitize(ref)


def rows(rng=None, relative=0.0, idempotency=0.0, shift=None):
    """Per-seed rows of three variants like the smoke runs' (idempotency_mse ~1e-6, the two seeds ~3 % apart, so
    a 1e-4 change of a value moves its std by ~0.5 %); `relative` and `idempotency` perturb every value (and
    idempotency_mse) by that relative spread, `shift` adds
    {(variant, metric): relative change} to the means."""
    base = {"full": (5.289, 0.03139, 9.546e-07), "no_style": (5.288, 0.03125, 8.343e-07),
            "no_lpips": (5.289, 0.03135, 9.095e-07)}
    out = []
    for variant, values in base.items():
        for seed in range(2):
            row = {"variant": variant, "seed": seed}
            for m, v in zip(METRICS, values):
                v *= 1 + 0.01 * (seed - 0.5) * (1 + METRICS.index(m))
                v *= 1 + (shift or {}).get((variant, m), 0.0)
                if rng is not None:
                    v *= 1 + rng.normal(0, idempotency if m == "idempotency_mse" else relative)
                row[m] = v
            out.append(row)
    return out


def test_unit_and_close_read_the_printed_digits():
    assert unit("1.88") == pytest.approx(0.01) and unit("5e-08") == pytest.approx(1e-8) and unit("12") == 1
    assert close("1.88", "1.87") and not close("1.88", "1.85")
    assert close("5e-08", "4e-08") and not close("1.4e-06", "1.6e-06") and close("5.4e-08", "4.5e-08", SPREAD)
    assert not close("0.0151", "0.0149") and not close("1e400", "1")
    assert align("| a | 1.881 ± 0.091 |", "| a | 1.879 ± 0.087 |") == "| a | 1.879 ± 0.087 |"  # ± std: SPREAD
    assert align("| a | 0.091 ± 1.881 |", "| a | 0.087 ± 1.879 |") == "| a | 0.091 ± 1.879 |"  # a mean is not


def test_a_table_from_inputs_perturbed_as_another_cpu_perturbs_them_compares_equal(tmp_path):
    ref = write_table(rows(), METRICS, tmp_path, "t")
    for seed in range(20):
        rng = np.random.default_rng(seed)
        test = write_table(rows(rng, relative=1e-6, idempotency=1e-4), METRICS, tmp_path, "t")
        assert same(test, ref), (test, ref)


@pytest.mark.parametrize("shift", [{("no_style", "style_distance_2nd_output_style"): 0.01},
                                   {("full", "restoration_ssim"): 0.5},  # float_digits keeps 2 decimals
                                   {("no_lpips", "idempotency_mse"): 3.0},
                                   {("no_lpips", "idempotency_mse"): 0.2}])  # past the one digit scientific_digits keeps
def test_a_real_change_of_a_table_fails(tmp_path, shift):
    ref = write_table(rows(), METRICS, tmp_path, "t")
    assert not same(write_table(rows(shift=shift), METRICS, tmp_path, "t"), ref)


CLAIM = Claim("Table 1", "without LPIPS, restoration is maintained", "restoration_ssim", "no_lpips", "full", "higher")


def claim_rows(d):
    """Three seeds of `full` and `no_lpips` whose paired differences are d + (-1, 0, 2) × 1e-4."""
    out = []
    for seed, spread in enumerate((-1, 0, 2)):
        out += [{"variant": "full", "seed": seed, "restoration_ssim": 0.5},
                {"variant": "no_lpips", "seed": seed, "restoration_ssim": 0.5 + d + spread * 1e-4}]
    return out


def claims_table(d):
    return verdicts_markdown(judge(claim_rows(d), [CLAIM]))


def test_a_verdict_at_the_edge_of_alpha_follows_the_reference_and_one_away_from_it_does_not():
    # the difference at which the claim's p-value is exactly α: 1e-9 either side of it, the label flips
    d = optimize.brentq(lambda d: judge(claim_rows(d), [CLAIM])[0]["p_holm"] - ALPHA, 1e-5, 1e-2, xtol=1e-15)
    below, above = claims_table(d * (1 + 1e-6)), claims_table(d * (1 - 1e-6))
    assert "**reproduced**" in below and "**no support at this budget**" in above
    assert same(above, below) and same(below, above)
    # a claim far from the edge that changes its label is a real change: p 50× from α either way
    far_in = optimize.brentq(lambda d: judge(claim_rows(d), [CLAIM])[0]["p_holm"] - ALPHA / 50, 1e-5, 1e-1)
    far_out = optimize.brentq(lambda d: judge(claim_rows(d), [CLAIM])[0]["p_holm"] - ALPHA * EDGE * 2, 1e-6, 1e-2)
    assert not same(claims_table(far_out), claims_table(far_in))
    assert not same(claims_table(-far_in), claims_table(far_in))  # contradicted against reproduced
