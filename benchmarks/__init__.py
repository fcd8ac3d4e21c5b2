"""asv benchmarks for bce-conformance (asv.conf.json): speed, memory, compilation, the
roofline and numerical agreement, one module per concern, over the adapters and cases of
the suite itself (``conformance.speed.suite``).

asv imports this package once in its forkserver and forks a process per parameter set;
the frameworks are imported here, so no fork pays their import.
"""

from conformance.speed.suite import preload_frameworks

preload_frameworks()
