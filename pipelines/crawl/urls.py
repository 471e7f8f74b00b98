"""URL normalisation and the network-safety policy (which schemes and addresses a crawl may contact).

`normalise_url` turns a list's URL into the canonical form that identifies a sample: scheme and host lower-cased,
IDNA host, default port dropped, empty path -> '/', unsafe characters percent-encoded, fragment dropped. The query
string is kept as is (its order can matter to servers).

`AddressPolicy` refuses addresses that are not public: private, loopback, link-local, multicast, reserved, shared
(CGNAT), unspecified, IPv6 site-local, local-use NAT64 (64:ff9b:1::/48) and IETF protocol-assignment
(192.0.0.0/24) ranges, unless private networks are allowed. Link-local ranges and cloud metadata addresses are
refused always. An IPv6 address that stands for an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64
64:ff9b::/96, 6to4 2002::/16) is judged by that IPv4 address, so `[::ffff:127.0.0.1]` or `[2002:a9fe:a9fe::]`
cannot reach what `127.0.0.1` or the metadata address cannot. The crawler applies it to every address it
connects to, so redirects and DNS answers that change between lookups are covered too.
"""
import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from pipelines.crawl import status
from pipelines.crawl.status import Failure

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d addresses (RFC 4291), :: and ::1 aside
# special-purpose ranges that are not globally reachable, though `is_global` says so on some Python versions
NOT_GLOBAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "64:ff9b:1::/48"))
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def normalise_url(raw: str | None) -> str:
    """The canonical form of `raw`; raises Failure(bad_url | bad_scheme) when it cannot be crawled."""
    text = (raw or "").strip()
    if not text:
        raise Failure(status.BAD_URL, "empty URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise Failure(status.BAD_URL, f"unparseable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise Failure(status.BAD_URL, "URL without a scheme")
    if scheme not in SCHEMES:
        raise Failure(status.BAD_SCHEME, f"scheme {scheme!r} is not crawled (only http, https)")
    host = _normalise_host(parts.hostname or "")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:
        raise Failure(status.BAD_URL, "URL with credentials (user:password@host)")
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def _normalise_host(host: str) -> str:
    if not host:
        raise Failure(status.BAD_URL, "URL without a host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise Failure(status.BAD_URL, f"invalid host name {host!r}: {exc}") from None
    if any(c in ascii_host for c in " /\\@"):
        raise Failure(status.BAD_URL, f"invalid host name {host!r}")
    return ascii_host


@dataclass(frozen=True)
class AddressPolicy:
    """Which IP addresses the crawler may connect to."""

    allow_private_network: bool = False

    def refusal(self, address: str) -> str | None:
        """Why `address` is refused, or None when it may be contacted."""
        given = ipaddress.ip_address(address.split("%", 1)[0])
        embedded = embedded_ipv4(given)
        ip, shown = (given, str(given)) if embedded is None else (embedded, f"{embedded} (embedded in {given})")
        if ip in METADATA_ADDRESSES:
            return f"{shown} is a cloud metadata address (always refused)"
        if ip.is_link_local:
            return f"{shown} is a link-local address (always refused)"
        if is_public(ip) or self.allow_private_network:
            return None
        return (f"{shown} is not a public address (loopback, private or reserved); "
                "pass --allow-private-network to allow it")

    def check(self, address: str) -> None:
        """Raise Failure(blocked_private_network) when `address` is refused."""
        reason = self.refusal(address)
        if reason is not None:
            raise Failure(status.BLOCKED_PRIVATE_NETWORK, reason)


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, IPv4-compatible, NAT64, 6to4), else None."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX or (ip in IPV4_COMPATIBLE and not (ip.is_unspecified or ip.is_loopback)):
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally reachable unicast address."""
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    if ip.version == 6 and ip.is_site_local:
        return False
    return not any(ip in network for network in NOT_GLOBAL_NETWORKS)
