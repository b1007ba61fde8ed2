"""A contact file in an uploader, kept for inspection and import without a new copy per rerun.

The file is handed to core once (`import_files.stage_upload`, which converts a workbook once and
keys it by content) and inspected once; the session keeps the outcome. When the file leaves the
uploader the staged copy is released (unless an import still reads it: the import job releases
it when it ends). `clear` empties the uploader after an import, so the next file starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from core.pipeline import contact_import, import_files

STATE = "import_upload"
GENERATION = "import_upload_gen"


@dataclass
class Held:
    file_id: str
    name: str
    digest: str | None = None
    path: str | None = None
    info: contact_import.FileInfo | None = None
    error: str | None = None


def uploader_key() -> str:
    return f"import-upload-{st.session_state.get(GENERATION, 0)}"


def hold(database: Any, up_file: Any, *, busy: bool) -> Held | None:
    """The staged and inspected file now in the uploader (None when it is empty). `busy`: an
    import is running, so a file that leaves the uploader is left for the job to release."""
    held: Held | None = st.session_state.get(STATE)
    if held is not None and (up_file is None or held.file_id != up_file.file_id):
        if not busy:
            import_files.release(held.digest)
        st.session_state.pop(STATE, None)
        held = None
    if up_file is None:
        return None
    gone = held is not None and held.path is not None and not Path(held.path).exists()
    if held is None or (gone and not busy):  # while an import runs, its job owns the file
        held = Held(up_file.file_id, up_file.name)
        staged = None
        try:
            staged = import_files.stage_upload(database, up_file.getvalue(), up_file.name)
            held.info = contact_import.inspect_file(database, staged.path, name=up_file.name)
            held.digest, held.path = staged.digest, str(staged.path)
        except contact_import.ContactImportError as exc:
            if staged is not None:
                import_files.release(staged.digest)
            held.error = str(exc)
        st.session_state[STATE] = held
    return held


def clear() -> None:
    """Empty the uploader (a new widget key) and forget the held file. The import job that read
    it has released its staged copy; releasing again covers a copy staged meanwhile."""
    held: Held | None = st.session_state.pop(STATE, None)
    if held is not None:
        import_files.release(held.digest)
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
