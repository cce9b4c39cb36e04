"""workbench: one loop for RL agents, generators and classifiers; every model a plugin."""

__version__ = "0.1.0"
