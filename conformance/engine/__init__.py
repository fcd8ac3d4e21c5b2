"""The engine: cases, the high-precision reference, tolerances, comparison in ULPs,
verdicts, and the matrix of checks. It imports nothing from ``running``, ``speed`` or
``reports``."""
