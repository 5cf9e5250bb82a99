"""The README's first command installs what every `minigrad train` task uses."""
import re
from pathlib import Path

import pytest

from minigrad import cli

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def _first_command_extras():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    first = block.strip().splitlines()[0]
    assert "minigrad train" in first, first
    match = re.search(r'pip install "?\.\[([^\]]*)\]"?', first)
    return [e.strip() for e in match.group(1).split(",")] if match else []


def _requirement_names(extras):
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = set()
    for extra in extras:
        for req in optional[extra]:
            names.add(re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower())
    return names


def test_readme_first_command_installs_every_optional_package_the_trainers_use():
    installed = _requirement_names(_first_command_extras())
    # the optional packages the train tasks import: progress bars, curves, the GloVe word list (parquet)
    needed = {"tqdm", "matplotlib", "pyarrow"}
    assert needed <= installed, f"the README's first command misses {sorted(needed - installed)}"


def test_optional_packages_are_the_ones_the_cli_knows():
    assert {module for module in cli.EXTRAS if module != "cupy"} == {"tqdm", "matplotlib", "pyarrow"}


def test_every_extra_named_in_the_cli_hints_exists():
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in cli.EXTRAS.items():
        assert extra in optional, (module, extra)
