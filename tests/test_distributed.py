"""Distributed training: torchrun with 2 CPU processes (gloo) trains like 1 process with the same global batch."""
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from rastlib.errors import ConfigError
from rastlib.train import Trainer, read_log
from rastlib.train.config import make_config
from rastlib.train.distributed import shard_offsets

# style_difference (1 / batch mean) and the contrastive InfoNCE (negatives from the process's own rows) are not
# means over samples, so N processes compute them on their shares: off here, to compare with one process.
PER_SAMPLE = ["--weight", "style_difference=0", "--weight", "contrastive_content=0",
              "--weight", "contrastive_style=0"]


def test_shard_offsets_cover_each_batch_once():
    assert shard_offsets(4, 0, 1) == [0, 1, 2, 3]
    shares = [shard_offsets(4, r, 2, extra=1) for r in range(2)]
    assert shares == [[0, 1, 2], [2, 3, 0]]  # each also loads the next content: its last pair's partner
    assert sorted(o for r in range(2) for o in shard_offsets(4, r, 2)) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="divisible by the number of processes"):
        shard_offsets(3, 0, 2)


def train_cli(out_dir, iterations, nproc, options=PER_SAMPLE):
    """`python -m rastlib train` (nproc 1) or the same under `torchrun --nproc_per_node=nproc`, one thread each."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    cmd = [sys.executable, *launcher, "-m", "rastlib", "train", "--profile", "smoke", "--iterations", str(iterations),
           "--out", str(out_dir), "--set", "save_every=2", *options]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_processes_train_like_one_and_resume(tmp_path):
    """3 steps of 1 process vs 2 processes on the same global batch of 4, straight and stopped after 2 and resumed.

    Step 0 has the same losses as one process (rel. 1e-5: only the summation order differs), step 1, after the
    first averaged gradient step, rel. 1e-3. Later steps drift apart chaotically: Adam moves every weight by about
    lr · sign(grad), so a gradient that is ~0 may flip its sign under another summation order (a change of thread
    count alone moves step-3 losses by 5-7 %), so there only the weights are compared, within 10 % of the training
    update. The resumed run keeps the summation order of the straight one: it must match it at every step.
    """
    train_cli(tmp_path / "one", 3, nproc=1)
    train_cli(tmp_path / "straight", 3, nproc=2)
    train_cli(tmp_path / "resumed", 2, nproc=2)
    done = train_cli(tmp_path / "resumed", 3, nproc=2)
    assert done.stdout.strip().endswith("checkpoint.pt")  # printed once, by rank 0
    one, straight, resumed = (read_log(tmp_path / r / "log.jsonl") for r in ("one", "straight", "resumed"))
    assert [r["step"] for r in resumed] == [0, 1, 2]  # rank 0 alone logged, and the resume continued at step 2
    terms = [k for k in one[0] if k not in ("step", "seconds", "skipped")]
    for ra, rb in zip(one[:2], straight[:2]):
        for k in terms:
            assert rb[k] == pytest.approx(ra[k], rel=[1e-5, 1e-3][ra["step"]]), (ra["step"], k)
    for rs, rr in zip(straight, resumed):
        for k in terms:
            assert rr[k] == pytest.approx(rs[k], rel=1e-5), (rs["step"], k)
    a, b, c = (torch.load(tmp_path / r / "checkpoint.pt", weights_only=True) for r in ("one", "straight", "resumed"))
    assert a["step"] == b["step"] == c["step"] == 3
    weights = {**make_config("smoke").weights, "style_difference": 0.0, "contrastive_content": 0.0,
               "contrastive_style": 0.0}
    init = Trainer(make_config("smoke", out_dir=str(tmp_path / "init"), weights=weights)).model.generator_state()
    flat = [(a["generator"][p][k], b["generator"][p][k], c["generator"][p][k], init[p][k])
            for p in init for k in init[p]]
    update = sum((w1 - w0).abs().sum() for w1, _, _, w0 in flat)
    assert sum((w1 - w2).abs().sum() for w1, w2, _, _ in flat) <= 0.1 * update
    assert sum((w2 - w3).abs().sum() for _, w2, w3, _ in flat) <= 1e-4 * update


def test_the_default_preset_under_two_processes_logs_the_mean_of_their_shares(tmp_path):
    """Every term of the default preset on, the batch terms included (style_difference's 1 / batch mean and the
    InfoNCE terms, whose negatives are the process's own rows): step 0 of a 2-process run logs the mean of what
    each process computes on its share, emulated here in one process by giving a trainer each rank's offsets.
    (The adversarial term, and so the total, come after the first discriminator step, whose gradients both
    processes average: not emulated.)"""
    from rastlib.train.probe import loss_values
    train_cli(tmp_path / "two", 1, nproc=2, options=["--set", "batch_size=8"])
    logged = read_log(tmp_path / "two" / "log.jsonl")[0]
    cfg = make_config("smoke", batch_size=8, out_dir=str(tmp_path / "emulated"))
    shares = []
    for rank in range(2):
        trainer = Trainer(cfg, resume=False)
        trainer.content_offsets = shard_offsets(4, rank, 2, extra=1)
        trainer.style_offsets = shard_offsets(4, rank, 2)
        shares.append(loss_values(trainer, *next(trainer.batches())))
    terms = [k for k, w in cfg.weights.items() if w and k != "adversarial"] + ["discriminator"]
    assert {"style_difference", "contrastive_content", "contrastive_style"} <= set(terms)
    for term in terms:
        assert logged[term] == pytest.approx((shares[0][term] + shares[1][term]) / 2, rel=1e-4), term
    whole = Trainer(replace(cfg, out_dir=str(tmp_path / "one")), resume=False)
    one = loss_values(whole, *next(whole.batches()))  # one process: negatives from the whole batch
    assert logged["contrastive_content"] != pytest.approx(one["contrastive_content"], rel=1e-2)
