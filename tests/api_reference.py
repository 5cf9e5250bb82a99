"""Reading the API reference, docs/api.md: the names it lists, section by section.

Shared by test_api_doc.py (the names exist, and every public name is listed) and test_ops.py (every op
listed under "Tensor operations" has test-registry entries).  Names are read from inline code spans
(`...`) outside the fenced examples, written in full from the prefixes the page introduces.
"""
import importlib
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "docs", "api.md")

# prefix as written on the page -> module (Tensor: the class)
PREFIXES = {
    "mg": "minigrad",
    "nn": "minigrad.nn",
    "F": "minigrad.nn.functional",
    "optim": "minigrad.optim",
    "dist": "minigrad.distributed",
    "Tensor": "minigrad.Tensor",
}
NAME = re.compile(r"(?<![\w.])(mg|nn|F|optim|dist|Tensor)((?:\.\w+)+)")
FUNCTIONS_ONLY = re.compile(r"\*functions? only\*", re.I)


def read():
    with open(PATH, encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The page without its fenced code blocks (the examples are doctests, checked by running them)."""
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)


def section(text, title):
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*$(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        raise LookupError(f"docs/api.md has no section '## {title}'")
    return match.group(1)


def spans(text):
    """Inline code spans (they may wrap onto the next line, as Markdown allows)."""
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose(text))]


def names(text):
    """Every dotted name (``mg.zeros``, ``nn.utils.rnn.pad_sequence``, ``Tensor.view``) in code spans, in order."""
    found = []
    for span in spans(text):
        found += [prefix + rest for prefix, rest in NAME.findall(span)]
    return list(dict.fromkeys(found))


def functions_only(text):
    """Names marked *functions only* (no Tensor method): the code spans from the mark to the end of its sentence."""
    marked = []
    body = prose(text)
    for match in FUNCTIONS_ONLY.finditer(body):
        pieces = body[match.end():].split("`")
        for i, piece in enumerate(pieces):
            if i % 2:  # inside a code span
                marked += [prefix + rest for prefix, rest in NAME.findall(piece)]
            elif re.search(r"\.(\s|$)", piece):  # the sentence ends outside code
                break
    return set(marked)


def resolve(dotted):
    """The object a dotted name on the page stands for (AttributeError when it does not exist)."""
    prefix, *parts = dotted.split(".")
    module_name = PREFIXES[prefix]
    if prefix == "Tensor":
        obj = importlib.import_module("minigrad").Tensor
    else:
        obj = importlib.import_module(module_name)
    for part in parts:
        obj = getattr(obj, part)
    return obj


# PyTorch's namespaces and where minigrad's counterpart would be (longest first)
TORCH_TO_MINIGRAD = [
    ("torch.nn.functional.", "F."), ("torch.nn.utils.", "nn.utils."), ("torch.nn.init.", "nn.init."),
    ("torch.nn.", "nn."), ("torch.optim.lr_scheduler.", "optim.lr_scheduler."), ("torch.optim.", "optim."),
    ("torch.autograd.", "mg.autograd."), ("torch.utils.data.", "mg.data."), ("torch.distributed.", "dist."),
    ("torch.Tensor.", "Tensor."), ("torch.cuda.", "mg.cuda."), ("torch.", "mg."),
]


def not_in_minigrad(text):
    """PyTorch names listed after **Not in minigrad:**, each with the minigrad name it would have."""
    pairs = []
    for paragraph in re.findall(r"^\*\*Not in minigrad:\*\*(.*?)(?=\n\n|\Z)", prose(text), flags=re.S | re.M):
        for span in spans(paragraph):
            if not span.startswith("torch."):
                continue
            prefix, replacement = next((p, r) for p, r in TORCH_TO_MINIGRAD if span.startswith(p))
            pairs.append((span, replacement + span[len(prefix):]))
    return pairs
