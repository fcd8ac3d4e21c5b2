"""The conformance engine: cases, high-precision reference, comparison in ULPs, verdicts,
reports, and the CLI; and the pytest suite that runs the same matrix (``pytest conformance``).
"""
