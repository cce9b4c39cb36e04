"""classifiers for workbench."""
