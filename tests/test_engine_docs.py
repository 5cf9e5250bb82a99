"""Chapter 1 quotes the real backward loop: the quote is ``run_backward``, whole and in order."""
import inspect
import os
import re

from minigrad.autograd import engine

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "01-autograd.md")


def test_chapter_1_quotes_run_backward_as_it_is():
    text = open(DOC, encoding="utf-8").read()
    quotes = re.findall(r"<!-- excerpt: minigrad/autograd/engine.py -->\n```\w*\n(.*?)\n```", text, flags=re.S)
    loop = [q for q in quotes if q.startswith("def run_backward(")]
    assert len(loop) == 1, "chapter 1 should quote run_backward once"
    assert loop[0].splitlines() == inspect.getsource(engine.run_backward).rstrip("\n").splitlines()
