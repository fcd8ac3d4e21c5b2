"""asv benchmarks for bce-conformance (see asv.conf.json)."""
