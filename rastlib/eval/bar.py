"""The model bar and the adoption rule: when is a checkpoint a working model, and when does one trained elsewhere
replace the committed one (docs/metrics.md#the-bar-when-is-the-model-working, docs/training.md#the-adoption-rule).

Both judge a `metrics.diagnose` dict; this module imports nothing of the kit, so the recipe, the demo and the
scripts that judge device runs and CPU arms all share one definition.
"""
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Gate:
    """A phase's pass rule on a `diagnose` dict, with its text for the record."""
    text: str
    rule: object  # callable(dict) -> bool

    def __call__(self, d):
        return bool(self.rule(d))


@dataclass(frozen=True)
class Bar:
    """One measure of the model issue's bar: a `diagnose` key and its threshold (a function of the diagnosis:
    style retrieval's is 3× chance). `gap` > 0 by how much the measure passes, < 0 by how much it falls short."""
    key: str
    name: str
    label: str  # the threshold, as the tables print it
    threshold: object  # callable(dict) -> float

    def gap(self, d):
        return d.get(self.key, math.nan) - self.threshold(d)  # a diagnosis made before a measure existed: NaN

    def passes(self, d):
        return bool(self.gap(d) >= 0)  # a NaN or missing measure (no second network at hand) does not pass


BAR = (Bar("identity_psnr_content", "T(c, c)", "≥ 20 dB", lambda d: 20.0),
       Bar("content_retrieval", "content retrieval", "≥ 0.75", lambda d: 0.75),
       Bar("content_retrieval_2nd", "content retrieval (2nd network)", "≥ 0.75", lambda d: 0.75),
       Bar("style_movement_2nd", "style movement (2nd network)", "≥ 2×", lambda d: 2.0),
       Bar("style_retrieval", "style retrieval", "≥ 3× chance", lambda d: 3 * d["chance"]),
       Bar("restoration_ssim", "restoration SSIM", "≥ 0.6", lambda d: 0.6))
WORKING_GATE = Gate("the model issue's bar: " + ", ".join(f"{b.name} {b.label}" for b in BAR),
                    lambda d: all(b.passes(d) for b in BAR))


def rast_noise(record_dir):
    """How far each bar measure moves between consecutive diagnoses of the rast phase (a chunk of ~30 s of GPU
    training apart): the median over every diagnostics_rast_*.jsonl under `record_dir`. A difference between
    two checkpoints no larger than this is the rast phase's own swing, not a better or worse model. A measure
    no two consecutive diagnoses have (one newer than the records) gets NaN: its noise is unknown."""
    swings = {b.key: [] for b in BAR}
    for path in sorted(Path(record_dir).rglob("diagnostics_rast_*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for b in BAR:
            values = [r.get(b.key, math.nan) for r in rows]
            swings[b.key] += [abs(y - x) for x, y in zip(values, values[1:]) if not math.isnan(x + y)]
    return {k: statistics.median(v) if v else math.nan for k, v in swings.items()}


# Diagnoses are stored in float32: a retrieval that moved by two of 72 outputs (2/72) differs from a noise of
# 2/72 in the ninth digit. A change equal to the noise is not beyond it.
NOISE_RTOL = 1e-6


def adoption(committed, candidate, noise):
    """The rule by which a checkpoint trained elsewhere (a device call) replaces the committed one: it passes no
    fewer of the bar's measures, no failing measure moves away from its threshold by more than that measure's
    `noise`, and it passes more measures or moves a failing one towards its threshold by more than the noise.
    A measure both pass does not count; nor, beyond passing or not, does one whose noise is unknown (NaN: no
    record has two diagnoses of it yet). (Passing more alone is not enough: a decoder fine-tuned to reproduce
    photos passes T(c, c) while its outputs lose the paintings' style.)
    Returns (adopted, reason, rows): a row per bar measure with both values, the change, its noise, the move."""
    rows = []
    for b in BAR:
        change = candidate.get(b.key, math.nan) - committed.get(b.key, math.nan)
        both_pass = b.passes(committed) and b.passes(candidate)
        beyond = noise.get(b.key, math.nan) * (1 + NOISE_RTOL)
        move = ("both pass" if both_pass else "not judged" if math.isnan(change + beyond)
                else "towards" if change > beyond else "away" if change < -beyond else "within noise")
        rows.append({"key": b.key, "name": b.name, "bar": b.label, "committed": committed.get(b.key, math.nan),
                     "candidate": candidate.get(b.key, math.nan), "change": change,
                     "noise": noise.get(b.key, math.nan), "move": move})
    before, after = (sum(b.passes(d) for b in BAR) for d in (committed, candidate))
    moves = [r["move"] for r in rows]
    adopted = after >= before and "away" not in moves and (after > before or "towards" in moves)
    reason = (f"passes {after} of the bar's {len(BAR)} measures (the committed checkpoint {before}); "
              f"{moves.count('towards')} failing measure(s) moved towards the bar and {moves.count('away')} away, "
              "beyond their noise" + (f"; {moves.count('not judged')} not judged (noise or value unknown)"
                                      if "not judged" in moves else ""))
    return adopted, reason, rows
