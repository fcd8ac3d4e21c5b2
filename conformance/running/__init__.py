"""Running a plan: supervised worker processes, memory sampling, progress."""
