"""The one error type for unreadable datasets, so the app can report it as a single line."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset's files are missing or corrupt; the message names the path and the expected layout."""
