"""monitor: a terminal-first scenario and indicator early-warning system over RSS/Atom feeds."""

__version__ = "0.1.0"
