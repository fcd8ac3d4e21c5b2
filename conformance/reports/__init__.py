"""Everything a run's results become once the engine has judged them.

- ``document``: the JSON report (schema version 3, ``report.schema.json``): build, write
  atomically, read back and validate.
- ``records``: the report as types (``Report``, ``CheckRecord``), which every reader of a
  report reads.
- ``environment``: the machine, framework versions and file hashes a report records.
- ``table``: the fixed-width summary printed at the end of a run.

The engine and the runner (``conformance.engine``, ``conformance.running``) import
nothing from here; these modules only read what they produced.
"""
