"""Every error, defined once: the protocol's error codes and the exception that carries one
(``ProtocolError``), the client's own failures (``ClientError`` and its kinds, one set for both
transports: pyzmq and the stdio bridge), and the helpers that make a received value safe to quote
in a message.  Standard library only (the plug-in imports it).

Codes, not Python class names, cross the bridge's pipe; ``error_for`` turns one back into its exception.
"""

from __future__ import annotations

import math
from typing import Any

INSTALL_HINT = "Run 'python3 install.py' from the GIMP Style Transfer folder to install it."
MAX_TEXT_CHARS = 1000  # error messages, as sent

# Each code names one problem a user or client can act on.
ERROR_CODES: dict[str, str] = {
    "bad_message": "The message is malformed (frames, JSON or fields).",
    "bad_signature": "The message is not signed with this server's key.",
    "replayed": "The message was already received, or its time is too far off.",
    "unsupported_version": "The peer speaks another protocol version.",
    "bad_parameter": "A parameter is unknown, of the wrong type or out of range.",
    "bad_image": "The layer's pixels do not match their description.",
    "too_large": "A message, image or buffer is larger than the server accepts.",
    "too_small": "An image is too small for the network at the requested size and style scale.",
    "bad_style_image": "The style image cannot be read.",
    "weights_missing": "The VGG model weights are not installed.",
    "busy": "The server has no room for another job now.",
    "unknown_job": "No job with this id is known to the server (or it was dropped).",
    "cancelled": "The job was cancelled.",
    "timeout": "The job ran longer than the server allows.",
    "shutting_down": "The server is stopping; the job was not finished.",
    "internal": "The server failed while running the job.",
}


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` is one of ERROR_CODES.

    ``authenticated`` tells whether the message carried a valid signature: only
    then does the server answer (unsigned traffic learns nothing).
    """

    def __init__(self, code: str, message: str, authenticated: bool = True) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.authenticated = authenticated


def printable(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` safe to show a person or write to a log: control and other invisible characters
    (terminal escapes, newlines, bidi overrides) escaped as ``\\x1b``, ``\\n``..., cut at ``limit``."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 40) -> str:
    """A received value quoted in an error message: its repr, short and printable."""
    if isinstance(value, int) and value.bit_length() > 128:  # str() of a huge int is slow, or refused
        return f"an integer of about {round(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    return printable(text, limit)


class ClientError(Exception):
    """A failure to show the user as it is; ``code`` is a protocol error code or a client-side one."""

    def __init__(self, message: str, code: str = "client") -> None:
        super().__init__(message)
        self.code = code


class ServerNotInstalled(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "not_installed")


class ServerStartFailed(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "start_failed")


class ServerStopped(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "stopped")


_BY_CODE: dict[str, type[ClientError]] = {"not_installed": ServerNotInstalled, "start_failed": ServerStartFailed,
                                         "stopped": ServerStopped}


def error_for(code: str, message: str) -> ClientError:
    """The exception for an error ``code`` (as the bridge helper reports it)."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else ClientError(message, code)
