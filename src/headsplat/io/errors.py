"""Errors a user can fix: the CLI prints their message (naming the file and the fix) and exits 2."""


class InputError(ValueError):
    """Bad user input: an unreadable file, a video without a face, a clashing output folder."""
