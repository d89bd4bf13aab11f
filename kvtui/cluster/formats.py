"""The value formats the API server checks: IPs, CIDRs, quantities, names, labels, URLs.

Each parser returns the parsed value or raises `ValueError` with a sentence a form can show, so
a value is rejected here with the same reason the API server (or KKP's webhook) would give.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SERVICE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# k8s.io/apimachinery resource.Quantity: <signedNumber><suffix>, suffix binary SI, decimal SI
# or a decimal exponent ("1e3"). The exponent is tried before the "E" (exa) suffix.
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:[eE](?P<exponent>[+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))"
)
_SUFFIX_FACTORS = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(2) ** (10 * (i + 1)) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def parse_ip(text: str) -> IPAddress:
    """An IPv4 or IPv6 address as Kubernetes accepts one: no prefix, no zone, no leading zeros."""
    if not isinstance(text, str) or not text:
        raise ValueError("must be an IP address")
    if "%" in text:
        raise ValueError(f"{text!r} is not an IP address: a zone (%...) is not allowed")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def parse_cidr(text: str) -> IPNetwork:
    """A CIDR (`10.0.0.0/24`, `2001:db8::/64`); the prefix length is required.

    Host bits may be set, as the API server allows (`10.0.0.1/24` means `10.0.0.0/24`); see
    `has_host_bits` to warn about them.
    """
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"{text!r} is not a CIDR: write address/prefix, e.g. 10.0.0.0/24")
    address, _, prefix = text.partition("/")
    parse_ip(address)
    if not prefix.isdigit() or (len(prefix) > 1 and prefix.startswith("0")):
        raise ValueError(f"{text!r} is not a CIDR: the prefix length must be a number")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a CIDR: the prefix length is too long") from None


def has_host_bits(text: str) -> bool:
    """Whether a valid CIDR names an address inside the network rather than the network."""
    address = ipaddress.ip_address(text.partition("/")[0])
    return address != parse_cidr(text).network_address


def is_strict_subset(inner: IPNetwork, outer: IPNetwork) -> bool:
    """`inner` lies inside `outer` and is smaller, which NetworkPolicy requires of `except`."""
    return (
        inner.version == outer.version
        and inner.prefixlen > outer.prefixlen
        and inner.network_address in outer
    )


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`4Gi`, `500m`, `2`, `1e3`) as an exact decimal."""
    if not isinstance(text, str):
        raise ValueError("must be a quantity string such as 4Gi")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a quantity: write a number and a unit, e.g. 4Gi or 500m")
    try:
        number = Decimal(match["number"])
        if match["exponent"] is not None:
            return number.scaleb(int(match["exponent"]))
        return number * _SUFFIX_FACTORS[match["suffix"]]
    except (InvalidOperation, OverflowError, ValueError):
        raise ValueError(f"{text!r} is not a quantity: the number is out of range") from None


def parse_url(text: str) -> SplitResult:
    """An http(s) URL with a host, as CDI's HTTP import source needs."""
    if not isinstance(text, str) or not text:
        raise ValueError("must be an http:// or https:// URL")
    if any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not a URL: it contains white space")
    try:
        url = urlsplit(text)
        _ = url.port  # raises on a bad port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    if not url.hostname:
        raise ValueError(f"{text!r} has no host")
    return url


def check_dns_label(text: str) -> str:
    """An RFC 1123 label (a namespace name): lower case, digits, '-', at most 63 characters."""
    if not isinstance(text, str) or not _DNS_LABEL.fullmatch(text) or len(text) > 63:
        raise ValueError(
            f"{text!r} is not a valid name: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return text


def check_dns_subdomain(text: str) -> str:
    """An RFC 1123 subdomain (most object names): dot-separated labels, at most 253 characters."""
    if (
        not isinstance(text, str)
        or not text
        or len(text) > 253
        or not all(_DNS_LABEL.fullmatch(part) for part in text.split("."))
    ):
        raise ValueError(
            f"{text!r} is not a valid name: use lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return text


def check_search_domain(text: str) -> str:
    """A DNS search domain: a subdomain, a trailing dot allowed (as the pod validation does)."""
    if text == ".":
        return text
    try:
        check_dns_subdomain(text[:-1] if isinstance(text, str) and text.endswith(".") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid DNS search domain") from None
    return text


def check_label_key(text: str) -> str:
    """A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 chars."""
    if not isinstance(text, str) or not text:
        raise ValueError("a label key must not be empty")
    prefix, slash, name = text.rpartition("/")
    if slash:
        try:
            check_dns_subdomain(prefix)
        except ValueError:
            raise ValueError(f"{text!r}: the prefix before '/' must be a DNS subdomain") from None
    if not _LABEL_NAME.fullmatch(name) or len(name) > 63:
        raise ValueError(
            f"{text!r} is not a valid label key: the name must be at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return text


def check_label_value(text: str) -> str:
    """A label value: empty, or at most 63 letters, digits, '-', '_' or '.', alphanumeric ends."""
    if not isinstance(text, str):
        raise ValueError("a label value must be a string")
    if text and (not _LABEL_NAME.fullmatch(text) or len(text) > 63):
        raise ValueError(
            f"{text!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return text


def check_port_name(text: str) -> str:
    """A named port (IANA service name): at most 15 characters, with a letter, no '--'."""
    if (
        not isinstance(text, str)
        or not _SERVICE_NAME.fullmatch(text)
        or len(text) > 15
        or "--" in text
        or not any(c.isalpha() for c in text)
    ):
        hint = " (a port number is written without quotes)" if str(text).isdigit() else ""
        raise ValueError(f"{text!r} is not a port number or port name{hint}")
    return text


def check_registry(text: str) -> str:
    """An image registry prefix (`registry.example.com/mirror`): no scheme, no white space."""
    if not isinstance(text, str) or not text:
        raise ValueError("must be a registry such as registry.example.com/mirror")
    if "://" in text:
        raise ValueError(f"{text!r}: write the registry without a scheme (no http:// or https://)")
    if any(c.isspace() for c in text) or text.startswith("/") or text.endswith("/"):
        raise ValueError(f"{text!r} is not a registry such as registry.example.com/mirror")
    return text
