"""R-X2: the pure URL policy of MDM URLs given by a tenant (domain/urls.py), by literal tables."""

from __future__ import annotations

import ipaddress

import pytest

from ledger_api.domain import urls

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-X2")]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://contoso.jamfcloud.com", None),
        ("https://jamf.example.com:8443/", None),
        ("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", None),
        ("HTTPS://graph.microsoft.com", None),
        ("https://[2606:4700::1111]/", None),
        ("http://contoso.jamfcloud.com", "must use https"),
        ("ftp://contoso.jamfcloud.com", "must use https"),
        ("contoso.jamfcloud.com", "must use https"),
        ("https://", "has no host"),
        ("https://:443/x", "has no host"),
        (
            "https://admin:pw@jamf.example.com",
            "must not carry a user name or password (give them as credentials)",
        ),
        ("https://jamf.example.com:99999", "is not a valid URL"),
        ("https://[::1", "is not a valid URL"),
    ],
)
def test_url_form(url: str, problem: str | None) -> None:
    assert urls.url_problem(url) == problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        ("20.190.160.1", None),
        ("2606:4700::1111", None),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("fd00:ec2::254", "fd00:ec2::254 is a cloud metadata address"),
        ("169.254.170.2", "169.254.170.2 is a cloud metadata address"),
        ("100.100.100.200", "100.100.100.200 is a cloud metadata address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.8.9.10", "127.8.9.10 is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("::ffff:127.0.0.1", "127.0.0.1 is a loopback address"),
        ("::ffff:169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("169.254.1.1", "169.254.1.1 is a link-local address"),
        ("fe80::1", "fe80::1 is a link-local address"),
        ("10.0.0.5", "10.0.0.5 is a private address"),
        ("172.16.3.4", "172.16.3.4 is a private address"),
        ("192.168.1.10", "192.168.1.10 is a private address"),
        ("fd12:3456::1", "fd12:3456::1 is a private address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("::", ":: is an unspecified address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("100.64.0.1", "100.64.0.1 is not a public address"),
        ("240.0.0.1", "240.0.0.1 is a private address"),
    ],
)
def test_address_classes(address: str, problem: str | None) -> None:
    assert urls.address_problem(ipaddress.ip_address(address)) == problem


def ips(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(t) for t in texts]


@pytest.mark.parametrize(
    ("host", "addresses", "problem"),
    [
        ("jamf.example.com", ips("93.184.216.34"), None),
        ("jamf.example.com", ips("93.184.216.34", "2606:2800:220:1::1"), None),
        ("jamf.example.com", [], "host 'jamf.example.com' does not resolve"),
        (
            "rebind.example",
            ips("93.184.216.34", "10.1.2.3"),
            "host 'rebind.example' resolves to 10.1.2.3 is a private address",
        ),
        (
            "metadata.internal",
            ips("169.254.169.254"),
            "host 'metadata.internal' resolves to 169.254.169.254 is a cloud metadata address",
        ),
        (
            "localhost",
            ips("127.0.0.1", "::1"),
            "host 'localhost' resolves to 127.0.0.1 is a loopback address",
        ),
        ("127.0.0.1", ips("127.0.0.1"), "127.0.0.1 is a loopback address"),
    ],
)
def test_resolved_hosts(
    host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address], problem: str | None
) -> None:
    assert urls.resolved_problem(host, addresses) == problem


def test_hosts_and_literals() -> None:
    assert urls.host_of("https://[fd00:ec2::254]:443/latest") == "fd00:ec2::254"
    assert urls.host_of("https://Jamf.Example.com/x") == "jamf.example.com"
    assert urls.literal_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert urls.literal_address("jamf.example.com") is None
    assert urls.URL_FIELDS == ("base_url", "authority_url", "graph_base_url")
