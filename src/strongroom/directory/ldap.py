"""Talking to the directory with ldap3: connect (LDAPS or StartTLS, CA checked), search, bind.

Everything that reaches a filter is escaped here (RFC 4515), so a user name such as ``*`` or
``)(uid=*`` is a literal that matches nobody. Errors of ldap3 are classified at this edge into
``DirectoryUnavailable`` (server down, TLS refused, service bind refused) and a plain refusal.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.conv import escape_filter_chars

from strongroom.core.errors import AppError, ErrorCode

logger = logging.getLogger(__name__)

# Active Directory's transitive membership rule (LDAP_MATCHING_RULE_IN_CHAIN).
IN_CHAIN = "1.2.840.113556.1.4.1941"
MAX_NESTING_DEPTH = 20


class DirectoryUnavailable(AppError):
    code = ErrorCode.DIRECTORY_UNAVAILABLE
    status = 503


@dataclass(frozen=True)
class ServerSettings:
    urls: tuple[str, ...]
    start_tls: bool
    ca_bundle: str
    bind_dn: str
    bind_password: str = field(repr=False)
    timeout: int = 10


@dataclass(frozen=True)
class DirectoryEntry:
    dn: str
    username: str
    email: str
    full_name: str


def _pool(server: ServerSettings) -> ldap3.ServerPool:
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        version=ssl.PROTOCOL_TLS_CLIENT,
        ca_certs_data=server.ca_bundle or None,
    )
    servers = [
        ldap3.Server(
            url,
            use_ssl=url.lower().startswith("ldaps://"),
            tls=tls,
            connect_timeout=server.timeout,
            get_info=ldap3.NONE,
        )
        for url in server.urls
    ]
    return ldap3.ServerPool(servers, ldap3.FIRST, active=1, exhaust=False)


def _open(server: ServerSettings, *, dn: str, password: str) -> ldap3.Connection:
    """A connection bound as ``dn``; raises InvalidCredentials for a refused bind."""
    if not server.urls:
        raise DirectoryUnavailable("no directory server URL is configured")
    if not password:
        # An empty password is an "unauthenticated bind" that many servers accept (RFC 4513).
        raise ldap_exc.LDAPInvalidCredentialsResult("empty password")
    conn = ldap3.Connection(
        _pool(server),
        user=dn,
        password=password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        receive_timeout=server.timeout,
        raise_exceptions=True,
        read_only=True,
    )
    try:
        conn.open()
        if server.start_tls and not conn.server.ssl:
            conn.start_tls()
        conn.bind()
    except ldap_exc.LDAPInvalidCredentialsResult:
        conn.unbind()
        raise
    except (ldap_exc.LDAPException, OSError, ssl.SSLError) as exc:
        conn.unbind()
        raise DirectoryUnavailable(
            f"the directory could not be reached or refused TLS: {type(exc).__name__}"
        ) from exc
    return conn


def service_connection(server: ServerSettings) -> ldap3.Connection:
    try:
        return _open(server, dn=server.bind_dn, password=server.bind_password)
    except ldap_exc.LDAPInvalidCredentialsResult as exc:
        raise DirectoryUnavailable("the directory refused the service account's bind") from exc


def user_bind_ok(server: ServerSettings, *, dn: str, password: str) -> bool:
    """True when the directory accepts ``password`` for ``dn`` (locked accounts are refused)."""
    try:
        conn = _open(server, dn=dn, password=password)
    except ldap_exc.LDAPInvalidCredentialsResult:
        return False
    conn.unbind()
    return True


def _first(attributes: dict[str, object], name: str) -> str:
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _search(
    conn: ldap3.Connection, base: str, search_filter: str, attributes: Iterable[str]
) -> list[tuple[str, dict[str, object]]]:
    try:
        conn.search(base, search_filter, search_scope=ldap3.SUBTREE, attributes=list(attributes))
    except ldap_exc.LDAPNoSuchObjectResult:
        return []
    except ldap_exc.LDAPException as exc:
        raise DirectoryUnavailable(f"directory search failed: {type(exc).__name__}") from exc
    return [
        (str(e["dn"]), dict(e["attributes"]))
        for e in conn.response or []
        if e.get("type") == "searchResEntry"
    ]


def users_find(
    conn: ldap3.Connection,
    *,
    base: str,
    user_filter: str,
    username_attribute: str,
    email_attribute: str,
    name_attribute: str,
    username: str | None = None,
) -> list[DirectoryEntry]:
    """Users matching the configured filter; only the one named ``username`` when given."""
    search_filter = user_filter
    if username is not None:
        search_filter = f"(&{user_filter}({username_attribute}={escape_filter_chars(username)}))"
    found = _search(
        conn, base, search_filter, [username_attribute, email_attribute, name_attribute]
    )
    return [
        DirectoryEntry(
            dn=dn,
            username=_first(attrs, username_attribute),
            email=_first(attrs, email_attribute),
            full_name=_first(attrs, name_attribute),
        )
        for dn, attrs in found
    ]


def groups_of(
    conn: ldap3.Connection, *, dn: str, base: str, group_filter: str, in_chain: bool
) -> set[str]:
    """Every group ``dn`` belongs to, directly or through nested groups (DNs, lower case)."""
    if in_chain:
        search_filter = f"(&{group_filter}(member:{IN_CHAIN}:={escape_filter_chars(dn)}))"
        return {g.lower() for g, _ in _search(conn, base, search_filter, ["cn"])}
    found: set[str] = set()
    frontier = {dn}
    for _depth in range(MAX_NESTING_DEPTH):
        if not frontier:
            break
        members = "".join(f"(member={escape_filter_chars(m)})" for m in sorted(frontier))
        search_filter = f"(&{group_filter}(|{members}))"
        parents = {g.lower() for g, _ in _search(conn, base, search_filter, ["cn"])}
        frontier = parents - found
        found |= parents
    return found
