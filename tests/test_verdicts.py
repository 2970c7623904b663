"""The verdict rule: t-tests against the t distribution at their degrees of freedom, Holm over the claims, and the
three labels, checked at their thresholds (just below and just above) and against scipy's reference tests."""
import math

import numpy as np
import pytest
from scipy import stats

from rastlib.lab.verdicts import Claim, claim_stats, critical_t, detectable_difference, holm, judge, verdicts_markdown


def _rows(a, b, seeds_b=None, metric="m"):
    seeds_b = range(len(b)) if seeds_b is None else seeds_b
    return ([{"variant": "v", "seed": i, metric: x} for i, x in enumerate(a)]
            + [{"variant": "ref", "seed": i, metric: x} for i, x in zip(seeds_b, b)])


def _paired_at(t, n=3, base=1.0, spread=0.01):
    """Rows whose per-seed differences v − ref have a paired t statistic of exactly `t` (df = n − 1)."""
    e = [spread * k for k in range(-(n // 2), n // 2 + 1)][:n]
    e = [x - sum(e) / n for x in e]
    sd = math.sqrt(sum(x * x for x in e) / (n - 1))
    mean = t * sd / math.sqrt(n)
    return _rows([base + mean + x for x in e], [base] * n)


CLAIM_HIGHER = Claim("test", "v is higher", "m", "v", "ref", "higher")


@pytest.mark.parametrize("n", [3, 5])
def test_a_single_claim_is_reproduced_just_above_the_critical_t_and_not_just_below(n):
    crit = critical_t(n - 1, 0.05)
    assert crit == pytest.approx(stats.t.ppf(0.975, n - 1))
    above, below = judge(_paired_at(crit * 1.01, n), [CLAIM_HIGHER]), judge(_paired_at(crit * 0.99, n), [CLAIM_HIGHER])
    assert above[0]["verdict"] == "reproduced" and above[0]["p"] < 0.05
    assert below[0]["verdict"] == "no support at this budget" and below[0]["p"] > 0.05
    opposite = judge(_paired_at(-crit * 1.01, n), [CLAIM_HIGHER])[0]
    assert opposite["verdict"] == "contradicted"
    lower = Claim("test", "v is lower", "m", "v", "ref", "lower")
    assert judge(_paired_at(-crit * 1.01, n), [lower])[0]["verdict"] == "reproduced"


def test_holm_multiplies_the_threshold_by_the_number_of_claims():
    crit1, crit2 = critical_t(2, 0.05), critical_t(2, 0.05 / 2)
    rows = _paired_at(crit1 * 1.05)
    claims = [CLAIM_HIGHER, Claim("test", "again", "m", "v", "ref", "higher")]
    # significant alone, not among two claims (each then needs |t| > crit2)
    assert judge(rows, claims[:1])[0]["verdict"] == "reproduced"
    assert all(c["verdict"] == "no support at this budget" for c in judge(rows, claims))
    assert [c["verdict"] for c in judge(_paired_at(crit2 * 1.01), claims)] == ["reproduced"] * 2
    assert [c["verdict"] for c in judge(_paired_at(crit2 * 0.99), claims)] == ["no support at this budget"] * 2


def test_holm_step_down_by_hand():
    out = holm([0.01, 0.04, 0.03, 0.005])
    assert [s for s, _ in out] == [True, False, False, True]
    assert [p for _, p in out] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [(False, 1.0), (False, 1.0)]


def test_paired_and_welch_p_values_match_scipy():
    a, b = [1.0, 1.4, 1.1, 1.9], [0.8, 1.1, 1.0, 1.2]
    paired = claim_stats(_rows(a, b), CLAIM_HIGHER)
    assert paired.paired and paired.df == 3
    assert paired.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    welch = claim_stats(_rows(a, b, seeds_b=[10, 11, 12, 13]), CLAIM_HIGHER)
    assert not welch.paired
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert welch.p == pytest.approx(ref.pvalue) and welch.df == pytest.approx(ref.df)


def test_maintained_is_an_equivalence_test_within_the_margin():
    same = Claim("test", "v is the same", "m", "v", "ref", "same", margin=0.05)
    close = _rows([1.001, 1.011, 0.991, 1.003, 0.996], [1.0] * 5)        # |d| ≈ 0.0004, margin 0.05
    far = _rows([1.20, 1.21, 1.19, 1.205, 1.195], [1.0] * 5)            # d = 0.2 ≫ margin
    edge = _rows([1.05, 1.06, 1.04, 1.055, 1.045], [1.0] * 5)           # d = margin exactly: neither
    noisy = _rows([1.0, 1.3, 0.7, 1.2, 0.8], [1.0] * 5)
    assert judge(close, [same])[0]["verdict"] == "reproduced"
    assert judge(far, [same])[0]["verdict"] == "contradicted"
    assert judge(edge, [same])[0]["verdict"] == "no support at this budget"
    assert judge(noisy, [same])[0]["verdict"] == "no support at this budget"
    with pytest.raises(ValueError, match="margin"):
        Claim("test", "no margin", "m", "v", "ref", "same")
    with pytest.raises(ValueError, match="expect"):
        Claim("test", "bad", "m", "v", "ref", "better")


def test_too_few_seeds_and_non_finite_values_give_no_support_and_say_why():
    one = judge(_rows([2.0], [1.0]), [CLAIM_HIGHER])[0]
    assert one["verdict"] == "no support at this budget" and "fewer than 2 seeds" in one["evidence"]
    nan = judge(_rows([2.0, float("nan"), 2.3], [1.0, 1.1, 1.2]), [CLAIM_HIGHER])[0]
    assert nan["df"] == 1 and "paired t, n = 2" in nan["evidence"]  # the seed without a finite value is left out


def test_the_table_puts_the_seeds_words_beside_our_evidence():
    claim = Claim("Table 2, 64×64", "mr helps at 64 px", "m", "v", "ref", "higher", seed_says="0.75 vs 0.65")
    md = verdicts_markdown(judge(_paired_at(50.0), [claim]))
    assert "| mr helps at 64 px (Table 2, 64×64) | 0.75 vs 0.65 | **reproduced** |" in md
    assert "paired t, n = 3" in md and "Holm p" in md


@pytest.mark.parametrize("n, tests", [(5, 1), (5, 6), (8, 18)])
def test_detectable_difference_is_found_with_the_stated_power(n, tests):
    """A true difference equal to `detectable_difference` is significant at Holm's strictest level in about 80 %
    of simulated paired experiments (the central-t approximation: within a few points); half of it far less."""
    rng = np.random.default_rng(0)
    sd = 0.3
    mde = detectable_difference(sd, n, tests)

    def power(effect):
        d = rng.normal(effect, sd, size=(4000, n))
        t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(n))
        return float(np.mean(np.abs(t) > critical_t(n - 1, 0.05 / tests)))

    assert 0.72 <= power(mde) <= 0.9
    assert power(mde / 2) < 0.45
    assert detectable_difference(sd, n, tests, equivalence=True) > mde  # TOST needs both sides
