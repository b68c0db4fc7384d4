"""ExternalDNS's TXT registry: which TXT record says who owns a record, and what it says.

Each record ExternalDNS manages has a TXT record beside it (``aws-edge.md``
§3): named ``<prefix><type>-<first label><suffix>.<rest>`` (the v0.18+
format; no ``<type>-`` when the affix holds ``%{record_type}``, which is
replaced by the type) and valued
``"heritage=external-dns,external-dns/owner=<id>,external-dns/resource=<kind>/<ns>/<name>"``.
An ALIAS A record's TXT is ``a-``; a CNAME's is ``cname-``.  ExternalDNS
changes a record only when such a TXT exists with its heritage and its own
owner id; anything else, someone else's.
"""

from __future__ import annotations

from .records import Record
from .settings import Settings

HERITAGE = "heritage=external-dns"
OWNER_LABEL = "external-dns/owner"
RESOURCE_LABEL = "external-dns/resource"
RECORD_TYPE = "%{record_type}"


def txt_name(settings: Settings, name: str, record_type: str) -> str:
    """The name of the TXT record that tracks the ``record_type`` record at ``name``."""
    kind = record_type.lower()
    prefix = settings.txt_prefix.replace(RECORD_TYPE, kind)
    suffix = settings.txt_suffix.replace(RECORD_TYPE, kind)
    first, dot, rest = name.partition(".")
    if RECORD_TYPE not in settings.txt_prefix + settings.txt_suffix:
        first = f"{kind}-{first}"
    return f"{prefix}{first}{suffix}{dot}{rest}".lower()


def txt_value(owner: str, resource: str) -> str:
    """The registry's value: the heritage, then the labels in sorted order, quoted as Route 53 stores TXT."""
    return f'"{HERITAGE},{OWNER_LABEL}={owner},{RESOURCE_LABEL}={resource}"'


def owner_of(txt: Record | None) -> str | None:
    """The owner id a registry TXT record names; None for no record or one without the heritage."""
    if txt is None or txt.type != "TXT":
        return None
    for value in txt.values:
        fields = value.strip('"').split(",")
        if fields and fields[0] == HERITAGE:
            labels = dict(f.partition("=")[::2] for f in fields[1:])
            return labels.get(OWNER_LABEL, "")
    return None
