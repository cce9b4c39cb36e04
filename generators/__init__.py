"""generators for workbench."""
