"""The client-side failures, without pyzmq: shared by client.py and the stdio bridge (bridge_client.py).

Standard library only: the plug-in imports this whether or not GIMP's Python has pyzmq.
"""

from __future__ import annotations


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
