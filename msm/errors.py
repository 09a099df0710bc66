"""The two kinds of failure the CLI distinguishes, mapped to exit codes by `msm.cli`.

Library code raises these with a one-line, user-facing message that names the file / field / value
at fault; the CLI prints the message (no traceback unless --debug) and exits with the code.
"""

from __future__ import annotations

import unicodedata


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped: a message must stay one line even when
    it quotes a file name or a field name that holds a newline or a carriage return."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else
                   (repr(ch)[1:-1] if unicodedata.category(ch)[0] in "CZ" else ch) for ch in text)


class MsmError(Exception):
    """Runtime failure (exit 1): something the input did not cause — a download failed, a hash changed."""

    exit_code = 1


class BadInput(MsmError):
    """Bad input or usage (exit 2): a malformed file, an unknown name, a missing prerequisite."""

    exit_code = 2


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (the part that fits a one-line error), cut to `limit` characters."""
    line = (str(exc).splitlines() or [""])[0]
    return line[:limit] if limit else line
