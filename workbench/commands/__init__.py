"""The command verbs (CLI and Python API), each a thin layer over the run machinery."""
