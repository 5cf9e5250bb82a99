"""The API reference (docs/api.md) against the library: it cannot list a name minigrad lacks, and it cannot
leave out a public name minigrad has.  Its examples run as doctests (pytest.ini); this checks the lists."""
import importlib
import inspect
import re

import pytest

import minigrad as mg
import minigrad.testing  # noqa: F401  (documented; imported on demand, so load it for the checks)
from api_reference import PREFIXES, functions_only, names, not_in_minigrad, read, resolve, section

TEXT = read()
LISTED = names(TEXT)

# Public modules whose every public name the page must list, with the prefix it writes them under.
MODULES = {
    "mg": "minigrad",
    "nn": "minigrad.nn",
    "F": "minigrad.nn.functional",
    "optim": "minigrad.optim",
    "optim.lr_scheduler": "minigrad.optim.lr_scheduler",
    "mg.autograd": "minigrad.autograd",
    "mg.autograd.functional": "minigrad.autograd.functional",
    "mg.data": "minigrad.data",
    "mg.datasets": "minigrad.datasets",
    "mg.utils": "minigrad.utils",
    "nn.init": "minigrad.nn.init",
    "nn.utils": "minigrad.nn.utils",
    "nn.utils.rnn": "minigrad.nn.utils.rnn",
    "nn.parallel": "minigrad.nn.parallel",
    "dist": "minigrad.distributed",
}
# Of these modules' submodules, the ones that are part of the API (the others hold the implementation).
PUBLIC_SUBMODULES = ["nn", "F", "optim", "dist", "mg.autograd", "mg.autograd.functional", "mg.data", "mg.datasets",
                     "mg.utils", "nn.init", "nn.utils", "nn.utils.rnn", "nn.parallel", "optim.lr_scheduler"]
# Public names deliberately left off the page.
EXEMPT = {
    "mg.testing": "documented in prose (import minigrad.testing): the test registry, not a user API",
}


def _public(prefix, module_name):
    """The public names of a module: its ``__all__``, else what it defines (itself or its submodules)."""
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", ()))
    strict = prefix in ("mg", "nn", "F", "optim")  # every public name of the four main namespaces
    found = []
    for name in sorted(n for n in dir(module) if not n.startswith("_")):
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue  # submodules: PUBLIC_SUBMODULES says which belong to the API
        defined_in = getattr(obj, "__module__", None) or ""
        # what it exports, and what it defines itself (imports from elsewhere are documented there)
        if strict or name in exported or defined_in == module_name or defined_in.startswith(module_name + "."):
            found.append(f"{prefix}.{name}")
    return found


def test_the_page_uses_each_prefix_and_lists_many_names():
    used = {name.split(".")[0] for name in LISTED}
    assert used == set(PREFIXES), used
    assert len(LISTED) > 400, len(LISTED)


@pytest.mark.parametrize("dotted", LISTED)
def test_every_listed_name_exists(dotted):
    try:
        resolve(dotted)
    except AttributeError as e:
        pytest.fail(f"docs/api.md lists {dotted}, which minigrad does not have ({e})")


@pytest.mark.parametrize("prefix,module_name", MODULES.items(), ids=list(MODULES))
def test_every_public_name_is_listed(prefix, module_name):
    # a name counts as listed when it, or something inside it (mg.cuda.is_available for mg.cuda), is
    listed = set(LISTED) | {n.rsplit(".", k)[0] for n in LISTED for k in range(1, n.count(".") + 1)}
    missing = [n for n in _public(prefix, module_name) if n not in listed and n not in EXEMPT]
    assert not missing, f"public names missing from docs/api.md: {missing}"


def test_public_submodules_are_listed():
    listed = set(LISTED)
    written = {name.rsplit(".", 1)[0] for name in listed} | listed
    for sub in PUBLIC_SUBMODULES:
        assert inspect.ismodule(resolve(sub)), sub
        assert sub in written, f"docs/api.md names nothing in {sub}"


def test_every_tensor_attribute_is_listed():
    """Each public Tensor attribute appears as Tensor.x, or as mg.x among the tensor operations (which the
    page says are also methods)."""
    ops = {n.split(".", 1)[1] for n in names(section(TEXT, "Tensor operations")) if n.startswith("mg.")}
    listed = {n.split(".", 1)[1] for n in LISTED if n.startswith("Tensor.")}
    public = [n for n in dir(mg.Tensor) if not n.startswith("_")]
    missing = [n for n in public if n not in listed and n not in ops]
    assert not missing, f"Tensor attributes missing from docs/api.md: {missing}"


@pytest.mark.parametrize("cls", ["nn.Module", "optim.Optimizer", "optim.lr_scheduler.LRScheduler"])
def test_every_method_of_the_base_classes_is_listed(cls):
    public = [n for n in dir(resolve(cls)) if not n.startswith("_")]
    missing = [n for n in public if f"{cls}.{n}" not in LISTED]
    assert not missing, f"{cls} methods missing from docs/api.md: {missing}"


def test_tensor_operations_are_methods_unless_marked_functions_only():
    ops_text = section(TEXT, "Tensor operations")
    only = functions_only(ops_text)
    assert {"mg.cat", "mg.stack", "mg.einsum", "mg.getitem"} <= only, only
    for dotted in names(ops_text):
        if not dotted.startswith("mg.") or inspect.isclass(resolve(dotted)):  # result types (mg.MaxResult)
            continue
        name = dotted[3:]
        if dotted in only:
            assert not hasattr(mg.Tensor, name), f"{dotted} is marked 'functions only' but is a Tensor method"
        else:
            assert hasattr(mg.Tensor, name), f"{dotted} is listed as a method too, but Tensor.{name} does not exist"


def test_the_reader_finds_what_is_written():
    """The parsing the tests above rely on: prefixes, sections and *functions only* marks."""
    page = ("Intro `mg.zeros(2)` and `dist.ReduceOp.SUM`.\n\n```python\n>>> mg.not_checked\n\n```\n"
            "## Tensor operations\n\n*Functions only*: `mg.cat` (also `mg.concat`), `mg.stack`. Also `mg.exp`.\n"
            "`mg.sum`, and, *function only*, `mg.einsum`.\n## Next\n`Tensor.view`\n")
    assert names(page) == ["mg.zeros", "dist.ReduceOp.SUM", "mg.cat", "mg.concat", "mg.stack", "mg.exp", "mg.sum",
                           "mg.einsum", "Tensor.view"]
    ops = section(page, "Tensor operations")
    assert "Tensor.view" not in names(ops)
    assert functions_only(ops) == {"mg.cat", "mg.concat", "mg.stack", "mg.einsum"}
    with pytest.raises(AttributeError):
        resolve("mg.no_such_name")
    assert resolve("nn.utils.rnn.pad_sequence") is mg.nn.utils.rnn.pad_sequence


def test_differences_from_pytorch_are_marked():
    notes = TEXT.count("> **Differs from PyTorch:**")
    assert notes >= 20, notes
    for phrase in ("reset_after=False", "never unpickles", "cuda:N", "NumPy's scalar types", "raw NumPy"):
        assert phrase in TEXT, phrase


def test_what_the_page_says_minigrad_lacks_is_absent():
    """A feature listed under **Not in minigrad** that gets added must come off that list."""
    pairs = not_in_minigrad(TEXT)
    assert len(pairs) > 80 and ("torch.nn.Conv3d", "nn.Conv3d") in pairs, pairs[:5]
    present = []
    for torch_name, name in pairs:
        try:
            resolve(name)
        except AttributeError:
            continue
        present.append(f"{torch_name} ({name} exists)")
    assert not present, f"docs/api.md says minigrad lacks these, but it has them: {present}"


def test_the_not_in_minigrad_reader():
    page = ("**Not in minigrad:** `torch.nn.Conv3d`, `torch.nn.functional.conv3d` (and `F.conv2d` is here),\n"
            "`torch.optim.lr_scheduler.CyclicLR`, `torch.Tensor.stride`, `torch.bfloat16`.\n\nLater `torch.foo`.\n")
    assert not_in_minigrad(page) == [("torch.nn.Conv3d", "nn.Conv3d"), ("torch.nn.functional.conv3d", "F.conv3d"),
                                     ("torch.optim.lr_scheduler.CyclicLR", "optim.lr_scheduler.CyclicLR"),
                                     ("torch.Tensor.stride", "Tensor.stride"), ("torch.bfloat16", "mg.bfloat16")]


def _choices(parser):
    """The sub-command names of an argparse parser."""
    import argparse

    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def test_the_command_line_section_names_every_command_and_task():
    from minigrad.cli import build_parser

    cli = section(TEXT, "Command line")
    commands = _choices(build_parser())
    named = set(re.findall(r"`minigrad (\w+)", cli))
    assert named == set(commands), (named, set(commands))
    tasks = set(_choices(commands["train"]))
    listed_tasks = set(re.findall(r"`(\w+)`", re.search(r"\(`lenet`[^)]*\)", cli).group(0)))
    assert listed_tasks == tasks, (listed_tasks, tasks)
    options = {a for action in _choices(commands["train"])["lenet"]._actions for a in action.option_strings}
    for option in re.findall(r"`(--[\w-]+)", cli):
        assert option in options, f"docs/api.md names {option}, which `minigrad train lenet` does not take"
