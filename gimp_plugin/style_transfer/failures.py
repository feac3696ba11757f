"""What ends a run early: a failure whose message is for the user, or the user's Cancel.  No GIMP here."""

from __future__ import annotations


class PluginError(Exception):
    """A failure whose message is meant for the user."""


class UserCancelled(Exception):
    """The user pressed Cancel: the image is left as it was."""
