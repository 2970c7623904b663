"""Weight averaging of checkpoints (`rastlib.train.averaging`, `python -m rastlib average`)."""
import pytest
import torch

from rastlib.errors import CheckpointError
from rastlib.model import RAST
from rastlib.model.encoder import VGGEncoder
from rastlib.train.averaging import average_checkpoints
from rastlib.train.checkpoint import FORMAT, VERSION, load_checkpoint, load_model, save_atomic
from test_cli import assert_one_line_error, run_cli


def write_checkpoint(path, seed, step, architecture="full", heads=True):
    """A training-kind checkpoint of a random generator (seeded), as the trainer writes one."""
    torch.manual_seed(seed)
    model = RAST(VGGEncoder("random"), architecture=architecture)
    save_atomic({"format": FORMAT, "version": VERSION, "kind": "train", "step": step,
                 "config": {"encoder": "random", "architecture": architecture},
                 "generator": model.generator_state(),
                 "heads": {"w": torch.full((2, 2), float(seed))} if heads else None}, path)
    return path


def test_the_average_is_the_weighted_mean_of_every_parameter(tmp_path):
    a, b, c = (write_checkpoint(tmp_path / f"{n}.pt", seed, step) for n, seed, step in
               (("a", 1, 10), ("b", 2, 30), ("c", 3, 20)))
    states = [load_checkpoint(p) for p in (a, b, c)]
    avg = average_checkpoints([a, b, c], weights=[2, 1, 1])
    for part in ("transform", "decoder"):
        for name, value in avg["generator"][part].items():
            want = (2 * states[0]["generator"][part][name] + states[1]["generator"][part][name]
                    + states[2]["generator"][part][name]) / 4
            assert torch.allclose(value, want, atol=1e-6), (part, name)
    assert torch.allclose(avg["heads"]["w"], torch.full((2, 2), (2 * 1 + 2 + 3) / 4))
    assert avg["step"] == 30 and avg["kind"] == "train"
    assert [s["weight"] for s in avg["averaged_from"]] == [0.5, 0.25, 0.25]
    name = next(iter(avg["generator"]["decoder"]))
    model = load_model(avg)  # a made checkpoint loads as a file does
    assert torch.allclose(model.decoder.state_dict()[name], avg["generator"]["decoder"][name])
    equal = average_checkpoints([a, b])
    assert torch.allclose(equal["generator"]["decoder"][name],
                          (states[0]["generator"]["decoder"][name] + states[1]["generator"]["decoder"][name]) / 2)


def test_heads_are_dropped_unless_every_source_has_them(tmp_path):
    a = write_checkpoint(tmp_path / "a.pt", 1, 1)
    b = write_checkpoint(tmp_path / "b.pt", 2, 1, heads=False)
    assert average_checkpoints([a, b])["heads"] is None


def test_checkpoints_of_other_architectures_or_bad_weights_are_refused(tmp_path):
    full = write_checkpoint(tmp_path / "full.pt", 1, 1)
    single = write_checkpoint(tmp_path / "single.pt", 2, 1, architecture="single_level")
    with pytest.raises(CheckpointError, match="differ at transform.sanet5_1"):
        average_checkpoints([full, single])
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints([full])
    with pytest.raises(CheckpointError, match="weights must be 2 numbers"):
        average_checkpoints([full, full], weights=[1, -1])


def test_the_cli_writes_an_fp16_file_with_its_sources(tmp_path, capsys):
    a = write_checkpoint(tmp_path / "a.pt", 1, 5)
    b = write_checkpoint(tmp_path / "b.pt", 2, 7)
    out = tmp_path / "avg.pt"
    code, _, err = run_cli(capsys, "average", a, b, "-o", out)
    assert code == 0, err
    ckpt = load_checkpoint(out)
    assert ckpt["kind"] == "inference" and ckpt["step"] == 7
    assert [s["step"] for s in ckpt["record"]["averaged_from"]] == [5, 7]
    assert all(v.dtype == torch.float16 for sd in ckpt["generator"].values() for v in sd.values()
               if v.is_floating_point())
    code, _, err = run_cli(capsys, "average", a, tmp_path / "missing.pt", "-o", tmp_path / "x.pt")
    assert_one_line_error(code, err, "checkpoint not found")
    assert not (tmp_path / "x.pt").exists()
