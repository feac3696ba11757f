"""The client-side failures, one set for both transports (pyzmq and the stdio bridge).

Each carries a ``code``: a protocol error code from the server, or one of the
client's own below.  Codes, not Python class names, cross the bridge's pipe;
``error_for`` turns one back into its exception.
"""

from __future__ import annotations

INSTALL_HINT = "Run 'python3 install.py' from the GIMP Style Transfer folder to install it."


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
