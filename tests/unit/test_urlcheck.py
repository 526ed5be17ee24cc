"""One URL check for producers and workers: numeric and IPv6-embedded forms canonicalised, names
resolved, internal addresses and unresolvable names refused unless allowlisted."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.urlcheck import URLPolicy, canonical_host, embedded_ipv4, literal_address, public

# A DNS of our own, so the test does not depend on this machine's resolver.
DNS = {"example.com": ["93.184.215.14"], "localhost": ["127.0.0.1", "::1"], "redis": ["172.18.0.3"],
       "mixed.example": ["93.184.215.14", "10.1.2.3"], "nat64.example": ["64:ff9b::a00:1"],
       "images.internal": ["10.9.9.9"]}
POLICY = URLPolicy(resolver=lambda host: DNS.get(host, []))


@pytest.mark.parametrize("url", [
    "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0177.0.0.1/", "http://localhost./x",
    "http://LOCALHOST/x", "http://redis:6379/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://[::7f00:1]/",
    "http://[64:ff9b:1::a00:1]/", "http://mixed.example/", "http://nat64.example/", "http://unresolvable.example/",
    "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://0.0.0.0/", "http://224.0.0.1/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
])
def test_internal_addresses_in_any_spelling_are_refused(url):
    with pytest.raises(ConfigurationError, match=r"^messages\.0\.content\.0\.url: "):
        POLICY.check(url, "messages.0.content.0.url")


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "https://EXAMPLE.com./cat.png", "http://93.184.215.14/",
                                 "http://[2606:2800:220:1:248:1893:25c8:1946]/"])
def test_public_hosts_pass(url):
    POLICY.check(url, "f")


def test_the_allowlist_admits_named_hosts_and_networks():
    policy = URLPolicy(["images.internal", "10.0.0.0/8"], resolver=lambda host: DNS.get(host, []))
    policy.check("http://images.internal/a.png", "f")
    policy.check("http://10.1.2.3/a.png", "f")
    policy.check("http://mixed.example/a.png", "f")
    with pytest.raises(ConfigurationError):
        policy.check("http://127.0.0.1/a.png", "f")


def test_forms_are_canonicalised():
    assert canonical_host("Example.COM.") == "example.com"
    assert literal_address("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("cafe") is None
    assert embedded_ipv4(ipaddress.ip_address("64:ff9b::7f00:1")) == [ipaddress.ip_address("127.0.0.1")]


@given(st.ip_addresses(v=4))
def test_every_ipv4_address_is_judged_the_same_in_every_spelling(address):
    spellings = [str(address), str(int(address)), hex(int(address)), f"[::ffff:{address}]", f"[64:ff9b::{address}]"]
    verdicts = set()
    for host in spellings:
        try:
            POLICY.check(f"http://{host}/", "f")
            verdicts.add(True)
        except ConfigurationError:
            verdicts.add(False)
    assert verdicts == {public(address)}
