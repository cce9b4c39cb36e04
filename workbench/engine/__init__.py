"""The engine that runs a plugin: the loop, checkpoints, run directories and their lock, progress."""
