"""One line saying which secret a feature is missing, and a link to where it is set."""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages import ui

SETTINGS_PAGE = "pages/settings.py"


def missing_secret(text: str, where: Any = None, *, tab: str = "Credentials") -> None:
    """`text` as a warning, then a link to Settings (for admins; others are told to ask one).
    `where` is a column or container (default the page)."""
    box = where if where is not None else st
    box.warning(text, icon=":material/key_off:")
    if ui.current_user().can_see("settings"):
        box.page_link(SETTINGS_PAGE, label=f"Set it under Settings → {tab}", icon=":material/key:")
    else:
        box.caption(f"An admin sets it under Settings → {tab}.")
