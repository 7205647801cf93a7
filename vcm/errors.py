"""One exception type for user-facing failures: the CLI prints its message on one line and exits 2."""
from __future__ import annotations


class VcmError(Exception):
    """A failure the user can fix. The message names the file (if any) and the fix, on one line."""

    exit_code = 2

    def __init__(self, message: str, *, path: object | None = None, fix: str | None = None):
        self.message, self.path, self.fix = message.rstrip("."), path, fix  # the parts, for a wrapper's own line
        parts = []
        if path is not None:
            parts.append(f"{path}:")
        parts.append(message.rstrip("."))
        text = " ".join(parts)
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text.replace("\n", " "))
