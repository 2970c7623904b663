"""The build step that makes an installed rastlib work from any folder: the wheel carries the demo checkpoint and
the demo images (`rastlib.paths.BUNDLED_FILES`) inside the package, in rastlib/_bundled/, where `rastlib.paths.kit_file`
finds them. An editable install uses the repository's files instead. Everything else is in pyproject.toml."""
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# rastlib/paths.py alone (it imports nothing of the kit; the package's __init__ would need torch at build time)
_spec = importlib.util.spec_from_file_location("rastlib_paths", Path(__file__).parent / "rastlib" / "paths.py")
_paths = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_paths)
BUNDLED_FILES = _paths.BUNDLED_FILES


class BuildWithDemoFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "rastlib" / "_bundled"
        for relative in BUNDLED_FILES:
            source, dest = Path(relative), target / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, dest)
            else:
                raise FileNotFoundError(f"{relative} is missing: the wheel would not stylise out of the box")


setup(cmdclass={"build_py": BuildWithDemoFiles})
