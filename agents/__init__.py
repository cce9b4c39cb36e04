"""agents for workbench."""
