"""Registry entries for the rnn ops (see op_registry.py for the fields)."""
from op_registry import OpInfo, Sample, register, values  # noqa: F401
