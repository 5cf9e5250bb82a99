"""What ``pip install .`` installs: ``minigrad`` and ``minigrad_models`` (the repository's ``models/`` folder under
its own name), never a top-level ``models`` package that would shadow the user's own."""
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def _packages_on_disk():
    """Every package under minigrad/ (a folder with an __init__.py), dotted."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, "minigrad")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if "__init__.py" in files:
            found.append(os.path.relpath(folder, ROOT).replace(os.sep, "."))
    return sorted(found)


def test_pyproject_lists_every_package_and_renames_models():
    config = _pyproject()
    listed = set(config["packages"])
    missing = sorted(set(_packages_on_disk()) - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml (or they are not installed)"
    assert "minigrad_models" in listed and config["package-dir"] == {"minigrad_models": "models"}
    assert not any(p == "models" or p.startswith("models.") for p in listed)


def test_minigrad_models_is_the_models_folder():
    spec = importlib.util.find_spec("minigrad_models")
    assert spec is not None, "minigrad_models is not importable: install the checkout (pip install -e .)"
    # The same files as the checkout's models/ (an editable install maps the name onto the folder).
    assert os.path.samefile(os.path.dirname(spec.origin), os.path.join(ROOT, "models"))
    from minigrad import cli

    assert all(module.startswith("minigrad_models.") for module in cli.TASKS.values())


def test_wheel_holds_minigrad_models_and_no_top_level_models(tmp_path):
    pytest.importorskip("setuptools")
    # Build from a copy: setuptools' build/ folder in a checkout can hold files of earlier builds.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info")
    for name in ("minigrad", "models"):
        shutil.copytree(os.path.join(ROOT, name), src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"minigrad", "minigrad_models"}
    for module in ("lenet", "sentiment", "language_model", "forecaster", "seq2seq", "training", "parallel"):
        assert f"minigrad_models/{module}.py" in names
    for package in _packages_on_disk():
        assert package.replace(".", "/") + "/__init__.py" in names
