"""Is restoration SSIM held under the decoder's own reconstruction? Every diagnosis in the committed records
(`diagnostics_*.jsonl`, and the `during_training` lists of the arms' diagnostics.json) gives the identity SSIM
SSIM(T(c, c), c) and the restoration SSIM SSIM(T(T(c, s), c), c) of the same checkpoint on the evaluation split;
this lists how far the second stays under the first. Writes results/diagnostics/restoration_ceiling.md.

    python scripts/restoration_ceiling.py
"""
import json
import statistics
from pathlib import Path

ROOT = Path("results")
OUT = ROOT / "diagnostics" / "restoration_ceiling.md"
STYLED = 0.5  # the bar's style retrieval (3× chance over 6 paintings)


def diagnoses():
    """(record file, diagnosis) for every diagnosis with both measures, each diagnosis once."""
    seen, rows = set(), []
    for path in sorted(ROOT.rglob("diagnostics*.json*")):
        if path.suffix == ".jsonl":
            ds = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        else:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and not str(data.get("size", "256")).startswith("256"):
                continue  # a `diagnose --size` at another size than the bar's
            ds = (data.get("during_training") or [{"step": data.get("step"), **data.get("diagnostics", data)}]
                  if isinstance(data, dict) else [])  # an arm's list, or one `diagnose` report
        for d in ds:
            if "restoration_ssim" in d and "identity_ssim_content" in d:
                key = (round(d["identity_ssim_content"], 6), round(d["restoration_ssim"], 6))
                if key not in seen:
                    seen.add(key)
                    rows.append((path, d))
    return rows


def main():
    rows = diagnoses()
    gaps = [d["identity_ssim_content"] - d["restoration_ssim"] for _, d in rows]
    ident = [d["identity_ssim_content"] for _, d in rows]
    rest = [d["restoration_ssim"] for _, d in rows]
    best = sorted(rows, key=lambda r: -r[1]["restoration_ssim"])[:5]
    styled = [g for g, (_, d) in zip(gaps, rows) if d.get("style_retrieval", 0) >= STYLED] or [float("nan")]
    lines = ["# Restoration SSIM stays under the identity SSIM", "",
             f"{len(rows)} distinct diagnoses in the committed records (`scripts/restoration_ceiling.py`), every "
             "checkpoint of every phase and arm, on the evaluation split at 256 px.", "",
             f"- identity SSIM(T(c, c), c) − restoration SSIM(T(T(c, s), c), c): smallest {min(gaps):.3f}, median "
             f"{statistics.median(gaps):.3f}, largest {max(gaps):.3f}; the restoration was never within "
             f"{min(gaps):.2f} of the identity;",
             f"- highest identity SSIM {max(ident):.3f}, highest restoration SSIM {max(rest):.3f}; correlation "
             f"{statistics.correlation(ident, rest):.2f}.", "",
             f"With the style at its bar (style retrieval ≥ {STYLED}: {len(styled)} diagnoses) the gap is at least "
             f"{min(styled):.3f} (median {statistics.median(styled):.3f}), so a styled checkpoint's restoration "
             f"SSIM ≥ 0.6 needs an identity SSIM of about {0.6 + min(styled):.2f} or more (at the median gap "
             f"{0.6 + statistics.median(styled):.2f}); the highest identity SSIM of any diagnosis is {max(ident):.3f}. "
             "The decoder's own reconstruction bounds the restoration: training has to raise it (T(c, c), a bar "
             "measure itself) before the restoration can pass.", "",
             "| record | step | identity PSNR | identity SSIM | restoration SSIM | style retrieval |", "|---|---|---|---|---|---|"]
    lines += [f"| {p.relative_to(ROOT)} | {d.get('step')} | {d['identity_psnr_content']:.2f} | "
              f"{d['identity_ssim_content']:.3f} | {d['restoration_ssim']:.3f} | {d.get('style_retrieval', float('nan')):.3f} |"
              for p, d in best]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
