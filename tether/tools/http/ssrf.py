"""The SSRF guard's decisions: which addresses an HTTP tool may reach (pure, no I/O).

A target is refused when its host is, or resolves to, a loopback, private, link-local (cloud
metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved or unspecified address,
including those addresses wrapped in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64) and
spelled the old ``inet_aton`` ways (``2130706433``, ``0177.0.0.1``, ``0x7f.1``). Every resolved
address must pass. An :class:`AllowList` of host names, addresses and networks opens exceptions.

Resolving names and connecting to the checked address happen in ``transport.py``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tether.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (shared address space)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", "reserved (documentation)"),
    ("192.88.99.0/24", "reserved (6to4 relay)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "reserved (documentation)"),
    ("203.0.113.0/24", "reserved (documentation)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (incl. broadcast)"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "reserved (discard)"),
    ("2001::/23", "reserved (IETF protocol assignments)"),
    ("2001:db8::/32", "reserved (documentation)"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "reserved (site-local)"),
    ("ff00::/8", "multicast"),
    ("::/8", "reserved (IPv4-compatible and unassigned)"),
)
BLOCKED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), why) for net, why in _BLOCKED
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_INET_ATON_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


@dataclass(frozen=True, kw_only=True)
class AllowList:
    """Exceptions to the guard: host names (exact, case-insensitive; ``*.example.com`` for
    subdomains), and addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    entries: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, entries: Iterable[str], *, source: str = "allow-list") -> AllowList:
        """Build from strings; a malformed entry is a ``ConfigError`` naming ``source``."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        kept: list[str] = []
        for raw in entries:
            entry = str(raw).strip().lower().strip("[]")
            if not entry:
                raise ConfigError(f"{source}: an empty entry; remove it or name a host or CIDR")
            kept.append(entry)
            network = _as_network(entry)
            if network is not None:
                networks.append(network)
            elif "/" in entry or not re.fullmatch(r"(\*\.)?[a-z0-9_.-]+", entry):
                raise ConfigError(
                    f"{source}: {raw!r} is neither a host name, an IP address nor a CIDR "
                    "network; write e.g. 'api.internal', '127.0.0.1' or '10.0.0.0/8'"
                )
            else:
                hosts.add(entry.rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks), entries=tuple(kept))

    def __add__(self, other: AllowList) -> AllowList:
        return AllowList(
            hosts=self.hosts | other.hosts,
            networks=self.networks + other.networks,
            entries=self.entries + other.entries,
        )

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return True
        return any(h.startswith("*.") and name.endswith(h[1:]) for h in self.hosts)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The guard's answer for one host: allowed, or refused with the reason and address."""

    host: str
    allowed: bool
    address: IPAddress | None = None
    reason: str | None = None

    def message(self) -> str:
        if self.allowed:
            return f"host {self.host!r} is allowed"
        shown = (
            self.host
            if self.address is None or str(self.address) == self.host
            else (f"{self.host} ({self.address})")
        )
        entry = self.host if self.address is None else f"{self.host}' or '{self.address}"
        return (
            f"refused to connect to {shown!r}: {self.reason}; if this target is intended, "
            f"allow-list it: add '{entry}' to 'allow:' in the tool file or the agent, "
            "or to TETHER_HTTP_ALLOW"
        )


def _as_network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver would accept; None for a name.

    Handles IPv6 (with or without brackets and zone id) and IPv4 in the ``inet_aton`` forms:
    one to four parts, each decimal, octal (leading ``0``) or hex (``0x``).
    """
    text = host.strip().strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _inet_aton(text.rstrip("."))


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.match(p) for p in parts):
        return None
    values = [_part_value(p) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _part_value(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), or None."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why the guard refuses ``address`` by default, or None if it is a public address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        label = _label(inner)
        return f"{label} address {inner} inside IPv6 {address}" if label else None
    label = _label(address)
    return f"{label} address" if label else None


def _label(address: IPAddress) -> str | None:
    for network, why in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return why
    return None if address.is_global else "not globally routable"


def check(host: str, addresses: Sequence[IPAddress], allow: AllowList) -> Verdict:
    """May a request to ``host``, resolved to ``addresses``, go out? Every address must pass."""
    if not addresses:
        return Verdict(host=host, allowed=False, reason="the host resolved to no address")
    if allow.allows_host(host):
        return Verdict(host=host, allowed=True, address=addresses[0])
    for address in addresses:
        if allow.allows_address(address):
            continue
        why = blocked_reason(address)
        if why is not None:
            return Verdict(host=host, allowed=False, address=address, reason=why)
    return Verdict(host=host, allowed=True, address=addresses[0])
