"""Is a URL in a job one a provider may be asked to fetch? The same check at submit and in the worker.

A job's http(s) URLs (images) are fetched by the provider, and a self-hosted provider sits inside the
operator's network, so a URL naming an internal address reaches the inside. The host is canonicalised
before it is judged: lower case, no trailing dot, IDNA; the legacy numeric forms inet_aton accepts
(`2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1`) read as the address they denote; a name is
resolved (getaddrinfo) and every address it resolves to must pass. IPv6 addresses that carry an IPv4
address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and
`64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo) are judged by the IPv4 address too. Refused: loopback,
private, link-local, reserved, multicast and every other non-global address, and names that do not
resolve, unless the allowlist (`MULTILLM_URL_ALLOWLIST`: host names and networks) names them.

Not covered: a name that resolves to a public address here and to an internal one when the provider
fetches it (DNS rebinding); the provider's own fetcher is the only place that could close that.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from multillm.common.errors import ConfigurationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]

NUMERIC_HOST = re.compile(r"[0-9]+|0x[0-9a-f]+|[0-9a-fx.]*\.[0-9a-fx.]*")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def system_resolver(host: str) -> list[str]:
    """Every address `host` resolves to here; none when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]).split("%")[0] for info in infos]


def canonical_host(host: str) -> str:
    """Lower case, without a trailing dot, IDNA-encoded (`Bücher.example.` -> `xn--bcher-kva.example`)."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def literal_address(host: str) -> Address | None:
    """The address a host written as an address denotes, in any form a resolver would accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found += list(address.teredo)
    if address in IPV4_COMPATIBLE or any(address in net for net in NAT64):
        found.append(ipaddress.IPv4Address(address.packed[-4:]))
    return found


def public(address: Address) -> bool:
    """Globally routable and unicast (Python counts most multicast ranges as global)."""
    return address.is_global and not address.is_multicast


class URLPolicy:
    """Which hosts a job's URLs may name; `allowlist` holds host names and networks (CIDR)."""

    def __init__(self, allowlist: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for entry in allowlist:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self.names.add(canonical_host(entry.strip()))
        self.resolver = resolver

    def _allowed(self, address: Address) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)

    def addresses(self, host: str) -> list[Address]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        found = []
        for text in self.resolver(host):
            try:
                found.append(ipaddress.ip_address(text))
            except ValueError:
                continue
        return found

    def check(self, url: str, field: str) -> None:
        """Refuse (ConfigurationError naming `field`) a URL a provider must not be sent to fetch."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise ConfigurationError(f"{field}: not a well-formed URL") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise ConfigurationError(f"{field}: only http(s) URLs with a host are accepted")
        if parts.username or parts.password:
            raise ConfigurationError(f"{field}: URLs with credentials are refused")
        host = canonical_host(hostname)
        if host in self.names:
            return
        addresses = self.addresses(host)
        if not addresses:
            raise ConfigurationError(f"{field}: {host} does not resolve")
        for address in addresses:
            for candidate in (address, *embedded_ipv4(address)):
                if not public(candidate) and not self._allowed(candidate):
                    raise ConfigurationError(f"{field}: {host} is not a public address ({candidate})")
