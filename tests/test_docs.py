"""The guide in docs/: its structure, its links, its code excerpts, and that its examples really are tested.

The examples themselves run as doctests (pytest.ini: ``--doctest-glob=*.md`` over ``testpaths = tests
docs``); these tests check what a doctest cannot: that every chapter is linked and collected, that links
and anchors resolve, that code quoted from the library still matches the library, and that a wrong
example output makes the suite fail.  The last part tests small library fixes made while writing the guide.
"""
import configparser
import doctest
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
CHAPTERS = sorted(f for f in os.listdir(DOCS) if re.match(r"\d\d-.*\.md$", f))
PAGES = ["index.md"] + CHAPTERS + ["api.md"]  # the API reference is checked like a chapter

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\s*$")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _blocks(text):
    """(language, first line number, lines) of every fenced code block, and the lines outside them."""
    blocks, outside, current = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if current is None and match:
            current = (match.group(1), number, [])
        elif current is not None and line.strip() == "```":
            blocks.append(current)
            current = None
        elif current is not None:
            current[2].append(line)
        else:
            outside.append((number, line))
    assert current is None, f"unclosed code block starting at line {current[1]}"
    return blocks, outside


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text):
    blocks_free = re.sub(r"```.*?```", "", text, flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", blocks_free, flags=re.M)}


# ----------------------------------------------------------------------------- structure
def test_there_are_ten_chapters():
    assert [c[:2] for c in CHAPTERS] == [f"{i:02d}" for i in range(1, 11)], CHAPTERS


def test_index_links_every_chapter_in_order():
    links = [t for t in LINK.findall(_read(os.path.join(DOCS, "index.md"))) if re.match(r"\d\d-", t)]
    first_mentions = list(dict.fromkeys(links))
    assert first_mentions == CHAPTERS


def test_every_chapter_links_back_to_the_index_and_on_to_the_next():
    for i, chapter in enumerate(CHAPTERS):
        targets = LINK.findall(_read(os.path.join(DOCS, chapter)))
        assert "index.md" in targets, f"{chapter} does not link to index.md"
        if i + 1 < len(CHAPTERS):
            assert CHAPTERS[i + 1] in targets, f"{chapter} does not link to the next chapter {CHAPTERS[i + 1]}"


@pytest.mark.parametrize("page", PAGES + ["../README.md"])
def test_relative_links_and_anchors_resolve(page):
    path = os.path.normpath(os.path.join(DOCS, page))
    text = _read(path)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        assert os.path.exists(resolved), f"{page}: link {target!r} points to a missing file"
        if anchor:
            assert resolved.endswith(".md"), f"{page}: anchor on a non-Markdown target {target!r}"
            assert anchor in _anchors(_read(resolved)), f"{page}: no heading for anchor {target!r}"


# ----------------------------------------------------------------------------- code blocks
@pytest.mark.parametrize("page", PAGES)
def test_doctest_prompts_live_in_python_blocks_and_python_blocks_are_doctests(page):
    """A ``>>>`` outside a ```python block would still run (doctest ignores fences) but read as prose or
    as an untested snippet; a ```python block without ``>>>`` would look tested and not be."""
    blocks, outside = _blocks(_read(os.path.join(DOCS, page)))
    for number, line in outside:
        assert not line.lstrip().startswith(">>>"), f"{page}:{number}: '>>>' outside a code block"
    for language, number, lines in blocks:
        prompts = any(line.lstrip().startswith(">>>") for line in lines)
        if language == "python":
            assert prompts, f"{page}:{number}: a ```python block without '>>>' examples is not tested"
            # doctest reads expected output up to a blank line: the closing fence must not be part of it
            assert lines and not lines[-1].strip(), f"{page}:{number}: end the block with a blank line"
        else:
            assert not prompts, f"{page}:{number}: '>>>' in a ```{language} block runs but is not marked python"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_examples(chapter):
    examples = doctest.DocTestParser().get_examples(_read(os.path.join(DOCS, chapter)))
    assert len(examples) >= 3, f"{chapter} has {len(examples)} doctest examples"


def _excerpts():
    for page in PAGES:
        text = _read(os.path.join(DOCS, page))
        for match in re.finditer(r"<!-- excerpt: (\S+) -->\n```\w*\n(.*?)\n```", text, flags=re.S):
            yield page, match.group(1), match.group(2)


def _code(line):
    """A line without its trailing comment, whitespace-normalised."""
    return " ".join(line.split("  #")[0].split())


@pytest.mark.parametrize("page,source,excerpt", list(_excerpts()), ids=lambda v: str(v)[:30])
def test_code_quoted_from_the_library_still_matches_it(page, source, excerpt):
    """Excerpts marked ``<!-- excerpt: path -->`` must still be the code in ``path`` (comments aside)."""
    code_lines = {_code(line) for line in _read(os.path.join(ROOT, source)).splitlines()}
    quoted = [_code(line) for line in excerpt.splitlines() if _code(line)]
    assert quoted
    missing = [line for line in quoted if line not in code_lines]
    assert not missing, f"{page} quotes {source}, which no longer has: {missing}"


def test_there_are_excerpts():
    assert len(list(_excerpts())) >= 5


def test_each_training_command_has_one_marked_results_table():
    text = _read(os.path.join(DOCS, "06-real-data.md"))
    tables = re.findall(r"<!-- measured[^>]*-->\n\| `(minigrad train \w+)`", text)
    assert sorted(tables) == sorted(f"minigrad train {t}" for t in ("lenet", "sentiment", "charlm", "forecast",
                                                                     "seq2seq"))


# ----------------------------------------------------------------------------- the mechanism
def _pytest(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def test_pytest_ini_collects_the_guide_but_not_the_readme():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "pytest.ini"))
    ini = config["pytest"]
    assert ini["testpaths"].split() == ["tests", "docs"]  # the root README.md is not collected
    assert "--doctest-glob=*.md" in ini["addopts"].split()
    # NUMBER would let "tensor(4.)" match 3.0 (it compares to the precision written: here +-1)
    assert set(ini["doctest_optionflags"].split()) == {"NORMALIZE_WHITESPACE", "ELLIPSIS"}
    result = _pytest("--collect-only", "-q", "docs")
    assert result.returncode == 0, result.stdout + result.stderr
    for chapter in CHAPTERS:
        assert f"docs/{chapter}::{chapter}" in result.stdout, f"{chapter} is not collected"


def test_a_wrong_example_output_fails_the_suite(tmp_path):
    """The ini's doctest options applied to Markdown files: a right output passes, a wrong one fails."""
    page = "Some prose.\n\n```python\n>>> import minigrad as mg\n>>> mg.tensor([1.0, 2.0]).sum()\n{}\n\n```\n"
    (tmp_path / "right.md").write_text(page.format("tensor(3.)"))
    (tmp_path / "wrong.md").write_text(page.format("tensor(4.)"))
    result = _pytest("-c", os.path.join(ROOT, "pytest.ini"), "--rootdir", str(tmp_path), "-rA", str(tmp_path),
                     cwd=str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PASSED right.md::right.md" in result.stdout and "FAILED wrong.md::wrong.md" in result.stdout
    assert "1 failed, 1 passed" in result.stdout
    assert "Expected:" in result.stdout and "tensor(4.)" in result.stdout


# ----------------------------------------------------------------------------- small library fixes made for the guide
def test_to_dot_names_are_short_and_deterministic():
    def draw():
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        return mg.utils.to_dot((x * x).sum(), params={"x": x})

    first, second = draw(), draw()
    body = [line for line in first.splitlines() if "#" not in line]  # node labels carry global tape numbers
    assert body == [line for line in second.splitlines() if "#" not in line]
    assert "  t0 [label=\"output\\nscalar\"" in first and "  n0 -> t0;" in first
    assert not re.search(r"\b[tn]\d{6,}\b", first), "memory addresses in the DOT text"


def test_load_state_dict_result_prints_like_pytorch_and_unpacks():
    model = mg.nn.Linear(2, 3)
    result = model.load_state_dict(model.state_dict())
    assert repr(result) == "<All keys matched successfully>"
    missing, unexpected = result
    assert missing == [] and unexpected == []
    partial = model.load_state_dict({"weight": model.weight.detach()}, strict=False)
    assert partial.missing_keys == ["bias"] and partial.unexpected_keys == []
    assert "missing_keys=['bias']" in repr(partial)


def test_function_node_keeps_its_name_after_backward():
    class Cube(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x * x * grad

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert repr(y.grad_fn).startswith("<Cube #")
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    assert "grad_fn=<Cube>" in repr(y)  # used to raise AttributeError once backward had freed the node
    assert repr(y.grad_fn).startswith("<Cube #")
    assert "Cube" in mg.utils.to_dot(y)


def test_summary_rules_span_a_long_title():
    text = str(mg.utils.summary(mg.nn.Sequential(mg.nn.Linear(3, 4)), (5, 3)))
    lines = text.splitlines()
    title = lines[1]
    assert lines[0] == "=" * len(title) and lines[2] == "=" * len(title)
    assert all(len(line) <= len(title) for line in lines)
