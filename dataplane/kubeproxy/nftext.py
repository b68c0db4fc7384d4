"""nftables text for ``nft -f``: one table, replaced in one transaction.

A ruleset is written as ``table F T { }`` + ``delete table F T`` + the full
table.  The first line makes the delete valid when the table does not exist
yet, and all three run as one transaction, so the kernel swaps the old table
for the new one atomically and never touches any other table of the
namespace.  The syntax kept here is what nft 1.0.6 (Debian 12) accepts:
numeric base-chain priorities and one statement per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMENT_MAX = 128  # nft refuses a longer comment, and with it the whole transaction


def _quoted(text: str) -> str:
    """A comment as nft takes it: quoted, cut to 128 bytes as kube-proxy cuts it
    (kubernetes#139515: a 63-character namespace and Service name overflow it)."""
    if '"' in text or "\n" in text:
        raise ValueError(f"an nft comment cannot hold quotes or newlines: {text!r}")
    return f'"{text.encode()[:COMMENT_MAX].decode(errors="ignore")}"'


def comment(text: str) -> str:
    """``comment "<text>"`` for the end of a rule."""
    return f"comment {_quoted(text)}"


@dataclass
class Chain:
    """A chain: regular, or a base chain when ``hook`` is given (``type nat hook output priority -100``)."""

    name: str
    hook: str | None = None
    rules: list[str] = field(default_factory=list)

    def add(self, rule: str) -> None:
        self.rules.append(rule)

    def text(self) -> str:
        head = [f"\t\t{self.hook}; policy accept;"] if self.hook else []
        body = [f"\t\t{rule}" for rule in self.rules]
        return "\n".join([f"\tchain {self.name} {{", *head, *body, "\t}"])


@dataclass
class NamedSet:
    """A named set or map; ``type`` is the key type, plus ``: verdict`` for a verdict map.

    Keys are unique, as nftables requires: the first element added for a key
    stays and later ones are ignored (two Services may claim one externalIP
    and port; the first in order wins).
    """

    kind: str  # "set" | "map"
    name: str
    type: str
    typeof: bool = False  # ``type`` is an expression (``typeof numgen random mod 3 : verdict``)
    comment: str = ""
    flags: str = ""
    timeout: int | None = None
    elements: dict[str, str] = field(default_factory=dict)  # key → "key [comment] [: value]"

    def add(self, key: str, value: str = "", comment: str = "") -> None:
        if key in self.elements:
            return
        text = key + (f" comment {_quoted(comment)}" if comment else "")
        self.elements[key] = f"{text} : {value}" if value else text

    def text(self) -> str:
        keyword = "typeof" if self.typeof else "type"
        lines = [f"\t{self.kind} {self.name} {{", f"\t\t{keyword} {self.type}"]
        if self.flags:
            lines.append(f"\t\tflags {self.flags}")
        if self.timeout is not None:
            lines.append(f"\t\ttimeout {self.timeout}s")
        if self.comment:
            lines.append(f"\t\tcomment {_quoted(self.comment)}")
        if self.elements:
            lines.append("\t\telements = {")
            lines.extend(f"\t\t\t{element}," for element in self.elements.values())
            lines.append("\t\t}")
        lines.append("\t}")
        return "\n".join(lines)


@dataclass
class Table:
    """A table in the order its objects were added (nft resolves references within the file)."""

    family: str
    name: str
    comment: str
    objects: list[Chain | NamedSet] = field(default_factory=list)

    def chain(self, name: str, hook: str | None = None) -> Chain:
        chain = Chain(name, hook)
        self.objects.append(chain)
        return chain

    def set(
        self,
        kind: str,
        name: str,
        type: str,
        *,
        typeof: bool = False,
        comment: str = "",
        flags: str = "",
        timeout: int | None = None,
    ) -> NamedSet:
        named = NamedSet(kind, name, type, typeof=typeof, comment=comment, flags=flags, timeout=timeout)
        self.objects.append(named)
        return named

    def text(self) -> str:
        """The whole ``nft -f`` transaction replacing this table."""
        ident = f"{self.family} {self.name}"
        parts = [
            f"table {ident} {{ }}",
            f"delete table {ident}",
            f"table {ident} {{",
            f"\tcomment {_quoted(self.comment)}",
        ]
        for obj in self.objects:
            parts.extend(("", obj.text()))
        parts.append("}")
        return "\n".join(parts) + "\n"
