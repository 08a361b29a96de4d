"""Tavern character cards (V1, V2, V3 as JSON, PNG or CHARX; text-generation-webui YAML) in and out of packs.

Reading is ``read.py`` (formats, bounds) and ``charx.py`` (the zip); the card ⇄
pack mapping is ``mapping.py`` with ``dialogue.py`` (``mes_example``) and
``worldinfo.py`` (SillyTavern world info); ``install.py`` writes a pack whole or
not at all; ``export.py`` writes cards; ``report.py`` says what happened.
A card is untrusted data: nothing in it is ever run.
"""

from __future__ import annotations

from persona.errors import PackError


class CardError(PackError):
    """A card, world-info file or CHARX that cannot be imported as it is."""
