"""Red team against the WebDAV provider's address rules: URL-parser confusion and
internal addresses written in other forms. Every one is refused by the server-URL check,
before any name is looked up or any packet sent (the ``dns`` stub and ``connections``
guard of tests/storage/conftest.py)."""

from __future__ import annotations

import pytest

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net
from strongroom.storage.providers.webdav import WebDAVProvider, server_policy

CONFUSED = [
    "https://cloud.example.com\\@169.254.169.254/dav/",  # backslash before user info
    "https://169.254.169.254\\.cloud.example.com/dav/",
    "https://%31%36%39.254.169.254/dav/",  # percent-encoded host
    "https://169.254.169.254%2f.cloud.example.com/dav/",
    "https://169\u3002254\u3002169\u3002254/dav/",  # ideographic full stops
    "https://0/dav/",
    "https://0x7f000001/dav/",
    "https://017700000001/dav/",  # octal
    "https://127.1/dav/",
    "https://cloud.example.com:443@10.0.0.1/dav/",
    "https://cloud.example.com#@10.0.0.1/dav/",
    "https://cloud.example.com?@10.0.0.1/dav/",
    "https:/\\10.0.0.1/dav/",
    "https:\\\\10.0.0.1/dav/",
    "https://10.0.0.1:443:80/dav/",
    "https://1.1.1.1\n@10.0.0.1/dav/",
    "https://[fe80::1%25eth0]/dav/",
    "https://xn--/dav/",
]

INTERNAL_LITERALS = [
    "https://[::a9fe:a9fe]/dav/",  # IPv4-compatible 169.254.169.254
    "https://[64:ff9b::a9fe:a9fe]/dav/",  # NAT64
    "https://[64:ff9b:1::a9fe:a9fe]/dav/",  # local-use NAT64
    "https://[2002:a9fe:a9fe::1]/dav/",  # 6to4
    "https://[::ffff:0:a9fe:a9fe]/dav/",  # IPv4-translated
    "https://[0:0:0:0:0:ffff:169.254.169.254]/dav/",  # mapped, dotted
    "https://[::ffff:10.0.0.1]/dav/",
    "HTTPS://10.0.0.1/dav/",
    "https://10.0.0.1./dav/",
    " https://10.0.0.1/dav/",
    "https://\t10.0.0.1/dav/",  # urlsplit drops tabs
    "https://[fec0::1]/dav/",  # IPv6 site-local: was taken for a public address
    "https://[fec0::a9fe:a9fe]:8443/dav/",
]


@pytest.mark.parametrize("url", CONFUSED)
def test_confusing_server_urls_are_refused_before_any_lookup(dns, connections, url):
    with pytest.raises(ValidationFailed) as excinfo:
        WebDAVProvider.validate_config(
            {"server_url": url, "username": "alice"}, {"password": "x"}, {"servers": []}
        )
    assert excinfo.value.details.get("field") == "server_url"
    assert dns.lookups == {} and connections.made == [] and connections.refused == []


@pytest.mark.parametrize("url", INTERNAL_LITERALS)
def test_internal_addresses_in_other_forms_are_refused(dns, connections, url):
    with pytest.raises(ValidationFailed, match="internal address"):
        server_policy(url, [])
    assert dns.lookups == {} and connections.made == [] and connections.refused == []


@pytest.mark.parametrize("at_connect", ["fec0::1", "::ffff:a9fe:a9fe", "64:ff9b::a00:1"])
def test_a_name_resolving_to_an_internal_ipv6_form_is_refused(dns, connections, at_connect):
    dns.set("cloud.v6.example", [at_connect])
    with pytest.raises(ValidationFailed, match="internal address"):
        server_policy("https://cloud.v6.example/dav/", [])
    assert connections.made == [] and connections.refused == []


def test_site_local_ipv6_is_internal():
    assert net.is_internal_address("fec0::1")
    assert net.is_internal_address("feff::1")
    assert not net.is_internal_address("2606:4700::1111")
