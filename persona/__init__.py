"""persona: chat with characters in the terminal."""

__version__ = "0.1.0"
