"""envs for workbench."""
