"""``python -m benchmarks``: run the benchmark table (see benchmarks/run.py and README.md)."""
from .run import main

raise SystemExit(main())
