"""A message header's JSON, read strictly and within bounds: UTF-8, nesting bounded before parsing (so deep
nesting cannot exhaust the parser), no NaN or Infinity, finite numbers, integers of bounded length (int() of
a long digit string is slow).  Standard library only (the plug-in imports it)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from nst_server.client.errors import ProtocolError

MAX_JSON_DEPTH = 16  # nesting of objects and lists in a header (ours need 3); checked before parsing
MAX_JSON_INT_DIGITS = 64  # longer integers are refused while parsing (int() of long digit strings is slow)

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_depth(raw: bytes) -> int:
    """How deeply objects and lists nest in JSON text, strings skipped; an upper bound for broken text."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ProtocolError("bad_message", f"the header holds {name}, which strict JSON does not allow")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise ProtocolError("bad_message", "the header holds a number too large to represent")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ProtocolError("bad_message", f"the header holds an integer of more than {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def loads_header(raw: bytes) -> dict[str, Any]:
    """A header's JSON object: UTF-8, nesting bounded before parsing, no NaN or Infinity, finite numbers."""
    if _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise ProtocolError("bad_message", f"the header nests objects or lists more than {MAX_JSON_DEPTH} deep")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float,
                            parse_int=_bounded_int)
    except UnicodeDecodeError:
        raise ProtocolError("bad_message", "the header is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_message", f"the header is not valid JSON (at character {exc.pos})") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_message", "the header must be a JSON object")
    return header
