"""SSIM / PSNR checked against scikit-image's implementation and hand computations."""
import numpy as np
import pytest
import torch
from skimage import data, transform
from skimage.metrics import structural_similarity

from rastlib.model.similarity import psnr, ssim


def reference_ssim(x, y):
    """skimage's SSIM in the Wang et al. 2004 setting, on HxWx3 float arrays in [0, 1]."""
    return structural_similarity(x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0)


def to_tensor(x):
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).float()


def photo(name, size):
    return transform.resize(getattr(data, name)(), size, anti_aliasing=True)


def test_ssim_matches_skimage_on_random_images():
    rng = np.random.default_rng(0)
    xs = [rng.random((40, 37, 3)) for _ in range(2)]
    ys = [np.clip(x + s * rng.standard_normal(x.shape), 0, 1) for x, s in zip(xs, (0.05, 0.3))]
    got = ssim(torch.stack([to_tensor(x) for x in xs]), torch.stack([to_tensor(y) for y in ys]))
    assert got.shape == (2,)
    for g, x, y in zip(got.tolist(), xs, ys):
        assert g == pytest.approx(reference_ssim(x, y), abs=1e-4)


def test_ssim_matches_skimage_on_photos():
    a, b = photo("astronaut", (64, 72)), photo("chelsea", (64, 72))
    blurred = transform.resize(transform.resize(a, (32, 36), anti_aliasing=True), (64, 72))
    for y in (b, blurred, np.clip(a * 0.8 + 0.1, 0, 1)):
        assert ssim(to_tensor(a), to_tensor(y)).item() == pytest.approx(reference_ssim(a, y), abs=1e-4)


def test_ssim_identical_is_one_and_accepts_3d():
    x = torch.rand(3, 24, 24)
    assert ssim(x, x.clone()).tolist() == pytest.approx([1.0], abs=1e-6)


def test_ssim_small_image_shrinks_window_and_is_differentiable():
    a = torch.rand(2, 3, 6, 9, requires_grad=True)
    s = ssim(a, torch.rand(2, 3, 6, 9))
    assert s.shape == (2,) and torch.isfinite(s).all()
    s.sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert ssim(torch.rand(1, 3, 1, 1), torch.rand(1, 3, 1, 1)).isfinite().all()


def test_psnr_hand_computed():
    x = torch.rand(2, 3, 16, 16) * 0.8
    assert psnr(x, x + 0.1).tolist() == pytest.approx([20.0, 20.0], abs=1e-3)
    assert psnr(x[0], x[0] + 0.01).item() == pytest.approx(40.0, abs=1e-2)
    assert psnr(x * 255, x * 255 + 25.5, data_range=255.0).tolist() == pytest.approx([20.0, 20.0], abs=1e-3)


def test_psnr_identical_capped():
    x = torch.rand(1, 3, 8, 8)
    assert psnr(x, x).item() == pytest.approx(100.0)


@pytest.mark.parametrize("fn", [ssim, psnr])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\).*\(1, 3, 8, 9\)"):
        fn(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
