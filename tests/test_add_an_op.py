"""Chapter 7's steps for adding an op, walked: its code blocks go into a copy of the package and the tests'
registry, and the new op then passes the registry's checks and is found by the Op-class walk."""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "07-extending.md")

SCRIPT = r"""
import sys
import numpy as np
import minigrad as mg
from minigrad import testing
import op_registry

from minigrad.ops.cube import cube
assert mg.cube is cube and mg.Tensor.cube is cube
assert mg.cube(mg.tensor([2.0])).item() == 8.0
info = op_registry.BY_NAME["cube"]
print(sorted(testing.check_op(info, max_examples=5)))
sample = testing.Sample([np.array([1.5, -0.5])])
assert "Cube" in testing.ops_exercised(info, sample) and "Cube" in testing.op_classes()
print("ok")
"""


def _steps():
    text = open(DOC, encoding="utf-8").read()
    return re.findall(r"<!-- (new file|add to the imports of|add a row at the end of FUNCTIONS in|add before BY_NAME in): "
                      r"(\S+) -->\n```py\n(.*?)\n```", text, flags=re.S)


def test_chapter_7_lists_three_steps():
    assert [(kind, path) for kind, path, _ in _steps()] == [
        ("new file", "minigrad/ops/cube.py"), ("add to the imports of", "minigrad/api.py"),
        ("add a row at the end of FUNCTIONS in", "minigrad/api.py"), ("add before BY_NAME in", "tests/op_registry.py")]


def test_the_documented_steps_add_a_working_op(tmp_path):
    shutil.copytree(os.path.join(ROOT, "minigrad"), tmp_path / "minigrad",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "tests"), tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for kind, path, code in _steps():
        target = tmp_path / path
        if kind == "new file":
            assert not target.exists()
            target.write_text(code + "\n")
            continue
        text = target.read_text()
        if kind == "add before BY_NAME in":
            assert text.count("\nBY_NAME = ") == 1
            text = text.replace("\nBY_NAME = ", "\n" + code + "\n\nBY_NAME = ")
        elif kind == "add a row at the end of FUNCTIONS in":  # before the ")" that closes the table
            start = text.index("\nFUNCTIONS = (\n")
            end = text.index("\n)\n", start)
            text = text[:end + 1] + code + "\n" + text[end + 1:]
        else:  # after the imports: before the table
            assert text.count("\nFUNCTIONS = (\n") == 1
            text = text.replace("\nFUNCTIONS = (\n", "\n" + code + "\n\nFUNCTIONS = (\n")
        target.write_text(text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(tmp_path / "tests")]))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "'forward', 'gradcheck', 'gradgradcheck'" in out.stdout and out.stdout.strip().endswith("ok")
