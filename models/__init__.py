"""Models built only on minigrad's public API, with their trainers (used by the ``minigrad`` command).

This is the repository's ``models/`` folder; ``pip install`` installs it as the package ``minigrad_models``
(``from minigrad_models import lenet``).  Every trainer runs the one epoch loop of
:func:`minigrad_models.training.fit` and declares its options once, in its module's ``OPTIONS``.
"""
