"""curate: lint, curate and train on multi-turn tool-using agent trajectories."""

__version__ = "0.1.0"
