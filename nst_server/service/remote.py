"""Remote mode: keys and allow-list for a server on another machine (a GPU box, say).

``remote-setup`` makes the server's CURVE key pair and the HMAC key, kept in a
private folder on the server; ``remote-add-client`` makes one client's key pair,
puts its public key on the allow-list and writes the file that client's
plug-in needs (``install.py --remote FILE``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import zmq

from nst_server.client import paths, protocol, runtime

CONFIG_FILE = "remote-server.json"


@dataclass
class RemoteAccess:
    """Remote mode: a TCP endpoint with CURVE encryption, open only to allow-listed client keys."""

    bind: str  # e.g. tcp://0.0.0.0:5555
    server_secret_key: str  # Z85
    server_public_key: str
    authorized_client_keys: frozenset[str]
    hmac_key: bytes


ENDPOINT = re.compile(r"tcp://[^:/\s]+:[0-9]{1,5}|tcp://\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}")


def setup(folder: Path, public_endpoint: str, bind: str | None = None) -> Path:
    """Create the server's keys in ``folder`` (mode 0700); clients will connect to ``public_endpoint``.

    The server listens only where it is told: on ``bind`` if given, else on the
    endpoint's own address (never on every interface unless ``bind`` says so).
    """
    for what, address in (("endpoint", public_endpoint), ("--bind address", bind or public_endpoint)):
        if not ENDPOINT.fullmatch(address):
            raise ValueError(f"the remote {what} must look like tcp://HOST:PORT, got {address!r}")
    runtime.make_private_dir(folder)
    public, secret = zmq.curve_keypair()
    config = {
        "public_endpoint": public_endpoint,
        "bind": bind or public_endpoint,
        "server_public_key": public.decode(),
        "server_secret_key": secret.decode(),
        "hmac_key": protocol.new_key().hex(),
        "clients": {},
    }
    return runtime.write_private_json(folder / CONFIG_FILE, config)


def _read_config(folder: Path) -> dict:
    """The server's remote config; ValueError naming the file when it is missing, not a plain file or damaged."""
    path = folder / CONFIG_FILE
    config = paths.read_json_object(path)
    if config is None:
        raise ValueError(f"{path} is missing or damaged (not a small JSON file); run remote-setup again")
    return config


def add_client(folder: Path, name: str) -> dict:
    """Allow a new client; returns the connection file for its plug-in (keep it secret)."""
    config = _read_config(folder)
    public, secret = zmq.curve_keypair()
    config["clients"][name] = public.decode()
    runtime.write_private_json(folder / CONFIG_FILE, config)
    info = runtime.RuntimeInfo(
        endpoint=config["public_endpoint"], key=bytes.fromhex(config["hmac_key"]), pid=0, instance=f"remote:{name}",
        curve_server_key=config["server_public_key"], curve_public_key=public.decode(), curve_secret_key=secret.decode(),
    )
    return info.to_json()


def load(folder: Path) -> RemoteAccess:
    """The keys ``serve --remote`` needs; ValueError, for people, when the folder's config is not usable."""
    config = _read_config(folder)
    try:
        access = RemoteAccess(
            bind=str(config["bind"]),
            server_secret_key=str(config["server_secret_key"]),
            server_public_key=str(config["server_public_key"]),
            authorized_client_keys=frozenset(str(key) for key in config["clients"].values()),
            hmac_key=bytes.fromhex(config["hmac_key"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{folder / CONFIG_FILE} lacks a field or has one of the wrong kind; run remote-setup "
                         "again") from None
    if not ENDPOINT.fullmatch(access.bind):
        raise ValueError(f"{folder / CONFIG_FILE}: 'bind' must look like tcp://HOST:PORT")
    return access
