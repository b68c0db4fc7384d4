"""Make hyperframe's frame ``repr`` cheap, because h2 formats every frame it receives.

``H2Connection._receive_frame`` calls ``logger.trace("Received frame: %s",
repr(frame))`` unconditionally, so the ``repr`` runs even when nothing is
logged.  hyperframe's ``_raw_data_repr`` hexlifies the *whole* payload and then
keeps 20 characters: with 1 MiB DATA frames that is 2 MiB of hex per frame.
A profile of the receiving proxy put 39 % of its samples there, and patching it
raised single-stream HBONE throughput by 30-45 %
(``shared/reference/hbone-python-perf.md``).  The patched function prints the
same thing (the first 10 bytes as hex) without touching the rest.

``DataFrame`` has no ``_body_repr`` of its own: the fallback first serializes
the body, a copy of the whole payload, only to format its start.  Its repr
now formats ``data`` directly (the same text, except that a padded frame no
longer shows its pad-length byte first).
"""

from __future__ import annotations

import binascii

import hyperframe.frame

_SHOWN_BYTES = 10


def _short_raw_data_repr(data: bytes | None) -> str:
    """Same output as hyperframe's, hexlifying only the bytes it shows."""
    if not data:
        return "None"
    shown = binascii.hexlify(bytes(data[:_SHOWN_BYTES])).decode("ascii")
    return "<hex:" + shown + ("..." if len(data) > _SHOWN_BYTES else "") + ">"


def _data_frame_body_repr(frame: hyperframe.frame.DataFrame) -> str:
    return _short_raw_data_repr(frame.data)


def apply() -> None:
    """Install the cheap reprs (idempotent: applying twice changes nothing)."""
    hyperframe.frame._raw_data_repr = _short_raw_data_repr
    hyperframe.frame.DataFrame._body_repr = _data_frame_body_repr  # type: ignore[method-assign,assignment]


def applied() -> bool:
    return (
        hyperframe.frame._raw_data_repr is _short_raw_data_repr
        and hyperframe.frame.DataFrame._body_repr is _data_frame_body_repr
    )
