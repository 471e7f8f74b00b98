"""SSRF: addresses that hide a private one (IPv6 embeddings, special ranges, DNS answers) are refused."""
import http.server
import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest

from pipelines.crawl import CrawlConfig, status
from pipelines.crawl.fetch import SampleFetcher
from pipelines.crawl.http import Caps, HttpClient
from pipelines.crawl.records import RawRow, to_candidate
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import AddressPolicy
from tests.crawl.conftest import TEST_OPTIONS
from tests.crawl.test_fetch_modes import _OnlyThisHostIsPublic, _RedirectTo

CAPS = {"image": Caps(10**6, 5)}


@pytest.mark.parametrize("address, private_allowed", [
    ("::127.0.0.1", True), ("::10.0.0.1", True), ("::ffff:127.0.0.1", True), ("::ffff:192.168.1.1", True),
    ("64:ff9b::127.0.0.1", True), ("64:ff9b::10.1.2.3", True), ("64:ff9b:1::a00:1", True),
    ("2002:7f00:0001::", True), ("2002:c0a8:0101::1", True), ("fec0::1", True), ("feff::1", True),
    ("192.0.0.1", True), ("192.0.0.100", True), ("192.0.0.255", True),
    ("::169.254.169.254", False), ("::ffff:169.254.169.254", False), ("64:ff9b::a9fe:a9fe", False),
    ("2002:a9fe:a9fe::", False), ("64:ff9b::169.254.1.1", False),
])
def test_hidden_private_addresses_are_refused(address, private_allowed):
    assert AddressPolicy(False).refusal(address) is not None
    assert (AddressPolicy(True).refusal(address) is None) == private_allowed


@pytest.mark.parametrize("address", ["64:ff9b::8.8.8.8", "2002:0808:0808::1", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_embeddings_of_public_addresses_stay_allowed(address):
    assert AddressPolicy(False).refusal(address) is None


def test_refusal_names_the_embedded_address():
    reason = AddressPolicy(False).refusal("2002:7f00:0001::")
    assert reason.startswith("127.0.0.1 (embedded in 2002:7f00:1::) is not a public address")


def _client(policy: AddressPolicy) -> HttpClient:
    return HttpClient(policy, timeout=2, max_redirects=5, retries=0, backoff=0, max_retry_after=0,
                      user_agent_token="t", disallowed_header_directives=[], pool_size=2)


def _refusal(policy: AddressPolicy, url: str) -> Failure:
    """The Failure fetching `url` under `policy` raises."""
    client = _client(policy)
    try:
        with pytest.raises(Failure) as info:
            client.fetch(url, "image", CAPS)
    finally:
        client.close()
    return info.value


@pytest.mark.parametrize("host", [
    "[::127.0.0.1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:0001::]", "[fec0::1]", "192.0.0.8",
])
def test_client_refuses_hidden_private_literals_before_connecting(server, host):
    failure = _refusal(AddressPolicy(False), f"http://{host}:{urlsplit(server.url('x.jpg')).port}/x.jpg")
    assert failure.status == status.BLOCKED_PRIVATE_NETWORK and "not a public address" in failure.error


def test_localhost_is_refused_by_its_resolved_address(server, jpg):
    url = server.url(jpg).replace("127.0.0.1", "localhost") + f"?t={uuid.uuid4().hex}"
    config = CrawlConfig(urls="unused", **{**TEST_OPTIONS, "allow_private_network": False})
    fetcher = SampleFetcher(config)
    try:
        row = fetcher.download(to_candidate(RawRow((0, 0, 0), url, "c", {}), config.video_extensions)).row
    finally:
        fetcher.close()
    assert row["status"] == status.BLOCKED_PRIVATE_NETWORK and "not a public address" in row["error"]
    assert server.hits(url.replace("localhost", "127.0.0.1")) == 0


class _Resolver:
    """A getaddrinfo stub: names of its own map to loopback answers (each name's answers in turn), others pass."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.asked: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.asked.append(host)
        queue = self.answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


def test_a_name_resolving_to_a_private_address_is_refused(server, jpg, monkeypatch):
    resolver = _Resolver({"images.example": ["127.0.0.2"]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    failure = _refusal(AddressPolicy(False), f"http://images.example:{urlsplit(server.url(jpg)).port}/{jpg}")
    assert failure.status == status.BLOCKED_PRIVATE_NETWORK and "127.0.0.2 is not a public address" in failure.error
    assert resolver.asked == ["images.example"]


def test_the_connection_goes_to_the_checked_answer_not_a_second_lookup(server, jpg, monkeypatch):
    """DNS rebinding: the first answer is allowed, every later one private; the fetch must use the first."""
    resolver = _Resolver({"cdn.example": ["127.0.0.1", "127.0.0.2"]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    path = f"/{jpg}?t={uuid.uuid4().hex}"
    client = _client(_OnlyThisHostIsPublic(False))
    try:
        payload = client.fetch(f"http://cdn.example:{urlsplit(server.url(jpg)).port}{path}", "image", CAPS)
        payload.body.close()
    finally:
        client.close()
    assert payload.http_status == 200 and resolver.asked == ["cdn.example"]
    assert server.hits(f"http://127.0.0.1:{urlsplit(server.url(jpg)).port}{path}") == 1


def test_a_redirect_to_a_name_resolving_privately_is_refused(server, jpg, monkeypatch):
    resolver = _Resolver({"cdn.example": ["127.0.0.1"], "internal.example": ["127.0.0.2"]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    _RedirectTo.target = f"http://internal.example:{urlsplit(server.url(jpg)).port}/{jpg}"
    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RedirectTo)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        failure = _refusal(_OnlyThisHostIsPublic(False), f"http://cdn.example:{redirector.server_port}/x.jpg")
    finally:
        redirector.shutdown()
    assert failure.status == status.BLOCKED_PRIVATE_NETWORK and "127.0.0.2 is not a public address" in failure.error
    assert resolver.asked == ["cdn.example", "internal.example"]
