"""Everything a run's results become once the engine has judged them.

- ``document``: the JSON report (schema version 2, ``report.schema.json``): build, write
  atomically, read back and validate.
- ``environment``: the machine, framework versions and file hashes a report records.
- ``table``: the fixed-width summary printed at the end of a run.

The engine (``conformance.matrix``, ``conformance.supervisor``, ``conformance.verdicts``)
imports nothing from here; these modules only read what it produced.
"""
