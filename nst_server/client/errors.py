"""Every error, defined once: the protocol's error codes and the exception that carries one
(``ProtocolError``), the client's own failures (``ClientError`` and its kinds, one set for both
transports: pyzmq and the stdio bridge), and the helpers that make a received value safe to quote
in a message.  Standard library only (the plug-in imports it).

Codes, not Python class names, cross the bridge's pipe; ``error_for`` turns one back into its exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "Run 'python3 install.py' from the GIMP Style Transfer folder to install it."
MAX_TEXT_CHARS = 1000  # error messages, as sent

@dataclass(frozen=True)
class ErrorKind:
    """One error code: what it names, and what the plug-in tells the user when a job ends with it.

    ``tell`` puts the error's own message in a sentence that says what to do; ``hint`` follows it unless the
    message already names install.py (a server that says how to install the weights); ``wire``: the server
    sends it (docs/protocol.md's table), else the client raises it itself (its transports, the bridge).
    """

    meaning: str
    tell: str = "Style transfer failed: {message}"
    hint: str = ""
    wire: bool = True


_AS_IS = "{message}"  # messages written for the user already

ERRORS: dict[str, ErrorKind] = {
    "bad_message": ErrorKind("The message is malformed (frames, JSON or fields)."),
    "bad_signature": ErrorKind("The message is not signed with this server's key."),
    "replayed": ErrorKind("The message was already received, or its time is too far off."),
    "unsupported_version": ErrorKind("The peer speaks another protocol version."),
    "bad_parameter": ErrorKind("A parameter is unknown, of the wrong type or out of range."),
    "bad_image": ErrorKind("The layer's pixels do not match their description."),
    "too_large": ErrorKind("A message, image or buffer is larger than the server accepts."),
    "too_small": ErrorKind("An image is too small for the network at the requested size and style scale."),
    "bad_style_image": ErrorKind("The style image cannot be read.", tell="The style image cannot be read: {message}"),
    "weights_missing": ErrorKind("The VGG model weights are not installed.", tell=_AS_IS,
                                 hint=" Run 'python3 install.py' to download them, or 'python3 install.py --weights "
                                      "FILE' with a file downloaded elsewhere."),
    "busy": ErrorKind("The server has no room for another job now.",
                      tell="The style transfer server is busy ({message}). Wait until the other job is done, or "
                           "cancel it, then try again."),
    "unknown_job": ErrorKind("No job with this id is known to the server (or it was dropped)."),
    "cancelled": ErrorKind("The job was cancelled."),
    "timeout": ErrorKind("The job ran longer than the server allows."),
    "shutting_down": ErrorKind("The server is stopping; the job was not finished."),
    "internal": ErrorKind("The server failed while running the job."),
    # The client's own: raised by its transports and the bridge, never sent by a server.
    "client": ErrorKind("The client failed (the default code of a ClientError).", wire=False),
    "not_installed": ErrorKind("The server is not installed where the plug-in looks.", tell=_AS_IS, wire=False),
    "start_failed": ErrorKind("The server could not be started.", tell=_AS_IS, wire=False),
    "stopped": ErrorKind("The server stopped answering, or exited, during the job.", tell=_AS_IS, wire=False),
    "no_pyzmq": ErrorKind("GIMP's Python has no usable pyzmq (missing or too old), and no bridge.", wire=False),
    "unsafe_runtime": ErrorKind("The server's runtime folder is not this user's own and private.", wire=False),
    "bridge": ErrorKind("The stdio bridge's helper failed or was asked for something it does not do.", wire=False),
    "self_test": ErrorKind("The doctor's round trip through the server gave a wrong result.", wire=False),
}
ERROR_CODES: dict[str, str] = {code: kind.meaning for code, kind in ERRORS.items() if kind.wire}  # the protocol's
_UNKNOWN = ErrorKind("A code this client does not know (from a newer server).")


def user_message(code: str, message: str) -> str:
    """What the user reads when something fails with ``code``: the message in a sentence that says what to do."""
    kind = ERRORS.get(code, _UNKNOWN)
    text = kind.tell.format(message=message)
    return text if not kind.hint or "install.py" in message else text + kind.hint


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` is one of ERROR_CODES.

    ``authenticated`` tells whether the message carried a valid signature: only
    then does the server answer (unsigned traffic learns nothing).
    """

    def __init__(self, code: str, message: str, authenticated: bool = True) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"{code!r} is no protocol error code (nst_server/client/errors.py)")
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
    """A failure to show the user (see user_message); ``code`` is one of ERRORS, or a newer server's."""

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
