"""A real OpenLDAP slapd for the directory tests: temporary slapd.conf, a test CA, a seeded
directory (people, nested groups, a locked and a disabled account), LDAPS and StartTLS on
free 127.0.0.1 ports. It runs as the current user and dies with the test process."""

from __future__ import annotations

import ctypes
import datetime as dt
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cli.helpers import free_port, wait_until

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=example,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-Pw1"
SERVICE_DN = f"cn=strongroom,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-Bind-Pw-4417"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
STAFF = f"cn=staff,{GROUPS}"
ENGINEERING = f"cn=engineering,{GROUPS}"
ADMINS = f"cn=admins,{GROUPS}"
# Lockout after failures is off (pwdMaxFailure 1000) so the tests' wrong passwords never lock
# a shared user; carol is locked by an administrator (pwdAccountLockedTime) instead.
# Users not matching this filter (employeeType=disabled) are treated as disabled accounts.
USER_FILTER = "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"
PASSWORDS = {
    "alice": "Alice-pw-nested-1",
    "bob": "Bob-pw-direct-2",
    "carol": "Carol-pw-locked-3",
    "dave": "Dave-pw-nogroup-4",
    "erin": "Erin-pw-disabled-5",
    "frank": "Frank-pw-leaver-6",
    "gina": "Gina-pw-leaver-7",
    "hank": "Hank-pw-throttled-8",
}


def user_dn(name: str) -> str:
    return f"uid={name},{PEOPLE}"


def _ldif() -> str:
    def person(uid: str, extra: str = "") -> str:
        return (
            f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()} "
            f"Example\nsn: Example\nmail: {uid}@example.test\n"
            f"userPassword: {PASSWORDS[uid]}\n{extra}\n"
        )

    def group(dn: str, cn: str, members: list[str]) -> str:
        lines = "".join(f"member: {m}\n" for m in members)
        return f"dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}\n"

    return (
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        f"o: Example\n\n"
        + "".join(
            f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
            for ou in ("people", "groups", "services", "policies")
        )
        + f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: "
        f"simpleSecurityObject\ncn: strongroom\nuserPassword: {SERVICE_PASSWORD}\n\n"
        + f"dn: cn=default,ou=policies,{SUFFIX}\nobjectClass: device\nobjectClass: pwdPolicy\n"
        f"cn: default\npwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 1000\n\n"
        + person("alice")
        + person("bob")
        + person("carol", "pwdAccountLockedTime: 000001010000Z\n")
        + person("dave")
        + person("erin", "employeeType: disabled\n")
        + person("frank")
        + person("gina")
        + person("hank")
        # Nested: alice is in engineering, engineering is in staff (the allowed group).
        + group(ENGINEERING, "engineering", [user_dn("alice"), user_dn("frank")])
        + group(
            STAFF,
            "staff",
            [
                ENGINEERING,
                user_dn("bob"),
                user_dn("carol"),
                user_dn("erin"),
                user_dn("gina"),
                user_dn("hank"),
            ],
        )
        + group(ADMINS, "admins", [user_dn("bob")])
    )


def _ca_and_server_cert(tmp: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Strongroom test LDAP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: slapd gets SIGTERM when the test process dies, even on a crash.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Slapd:
    process: subprocess.Popen[bytes]
    ldap_port: int
    ldaps_port: int
    ca_pem: str
    log_path: Path

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.ldap_port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def slapd_start(tmp: Path) -> Slapd:
    ca_path, cert_path, key_path = _ca_and_server_cert(tmp)
    db = tmp / "db"
    db.mkdir()
    conf = tmp / "slapd.conf"
    conf.write_text(
        f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {tmp}/slapd.pid
TLSCACertificateFile {ca_path}
TLSCertificateFile {cert_path}
TLSCertificateKeyFile {key_path}
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {db}
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{SUFFIX}"
ppolicy_use_lockout
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by * none
"""
    )
    ldif = tmp / "seed.ldif"
    ldif.write_text(_ldif())
    subprocess.run([SLAPADD, "-f", str(conf), "-l", str(ldif)], check=True, capture_output=True)
    ldap_port, ldaps_port = free_port(), free_port()
    log_path = tmp / "slapd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                SLAPD,
                "-f",
                str(conf),
                "-d",
                "stats",
                "-h",
                f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    server = Slapd(process, ldap_port, ldaps_port, ca_path.read_text(), log_path)

    def ready() -> bool:
        assert process.poll() is None, f"slapd exited: {log_path.read_text()[-2000:]}"
        return _listening(ldap_port) and _listening(ldaps_port)

    wait_until(ready, timeout=30, what="slapd to listen")
    return server
