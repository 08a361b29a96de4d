"""One error base class; the CLI prints its message and hint and exits 2.

Loading a *named* thing (a pack id, a model alias) raises one of these;
bulk discovery warns and goes on.
"""

from __future__ import annotations


class PersonaError(Exception):
    """An error a user can fix: a one-line message and a hint saying how."""

    title = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class PackError(PersonaError):
    """A persona pack is missing, malformed or unsafe."""


class ModelError(PersonaError):
    """A model alias, file or adapter cannot be used."""


class InputError(PersonaError):
    """A message from the user cannot be sent as it is."""


class StoreError(PersonaError):
    """The session store or PERSONA_HOME cannot be used."""


class GenerationError(PersonaError):
    """The model failed or timed out while generating."""
