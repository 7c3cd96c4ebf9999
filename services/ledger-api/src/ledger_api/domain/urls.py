"""R-X2: which MDM URLs a tenant may give. Pure: the caller resolves host names (adapters).

A tenant's Jamf `base_url` and Intune `authority_url` / `graph_base_url` are fetched by our
connectors inside our network, so a URL is an instruction to connect somewhere on the tenant's
behalf (server-side request forgery). Such URLs must be https, and a host that is, or resolves to,
a loopback, private, link-local, unspecified, multicast, reserved or cloud-metadata address is
refused unless the operator allows private MDM hosts (simulators, self-hosted servers on a LAN).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

# Cloud instance metadata services: link-local already, named here so the reason says so.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, Azure, GCP, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)

# Fields of the integration bodies that are MDM URLs.
URL_FIELDS = ("base_url", "authority_url", "graph_base_url")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an MDM URL by its form alone (scheme, host, credentials), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() != "https":
        return "must use https"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (give them as credentials)"
    return None


def host_of(url: str) -> str:
    """The host name of a URL that `url_problem` accepted (IPv6 literals without brackets)."""
    host = urlsplit(url).hostname
    assert host is not None
    return host


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a connection to this address is refused, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_unspecified:
        return f"{address} is an unspecified address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    if not address.is_global:  # shared address space (100.64/10), and the like
        return f"{address} is not a public address"
    return None


def resolved_problem(
    host: str, addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> str | None:
    """Why `host`, resolving to `addresses`, is refused: any non-public address refuses it (a
    name with one public and one private address could be answered with either)."""
    found = list(addresses)
    if not found:
        return f"host {host!r} does not resolve"
    for address in found:
        problem = address_problem(address)
        if problem is not None:
            return f"host {host!r} resolves to {problem}" if literal_address(host) is None else problem
    return None
