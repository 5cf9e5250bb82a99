"""Models built only on minigrad's public API, with their trainers (used by the ``minigrad`` command)."""
