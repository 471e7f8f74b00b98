"""URL normalisation and the network-safety policy (which schemes and addresses a crawl may contact).

`normalise_url` turns a list's URL into the canonical form that identifies a sample: scheme and host lower-cased,
IDNA host, default port dropped, empty path -> '/', unsafe characters percent-encoded, fragment dropped. The query
string is kept as is (its order can matter to servers).

`AddressPolicy` refuses addresses that are not public: private, loopback, link-local, multicast, reserved, shared
(CGNAT) and unspecified ranges, unless private networks are allowed. Link-local ranges and cloud metadata
addresses are refused always. The crawler applies it to every address it connects to, so redirects and DNS
answers that change between lookups are covered too.
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
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata address (always refused)"
        if ip.is_link_local:
            return f"{ip} is a link-local address (always refused)"
        if (ip.is_global and not ip.is_multicast) or self.allow_private_network:
            return None
        return f"{ip} is not a public address (loopback, private or reserved); pass --allow-private-network to allow it"

    def check(self, address: str) -> None:
        """Raise Failure(blocked_private_network) when `address` is refused."""
        reason = self.refusal(address)
        if reason is not None:
            raise Failure(status.BLOCKED_PRIVATE_NETWORK, reason)
