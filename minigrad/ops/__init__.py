"""All tensor ops, one module per family.  Each module keeps an op's forward and backward side by side.

The table in ``minigrad/api.py`` makes their functions ``mg.<name>``, ``Tensor`` methods and operators.
"""
