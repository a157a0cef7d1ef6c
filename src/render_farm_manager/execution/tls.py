"""Mutual TLS between the manager and its render nodes.

Every party has a certificate signed by the farm's own certificate authority, and every
connection checks the other side's: a machine without a certificate of this farm can neither
join as a worker nor pose as the manager, and the traffic (orders, events) is encrypted.
``render-farm certs DIR --node n1 --node n2`` makes the authority and the certificates; the
authority's key stays in ``DIR/ca.key``, needed only to make more.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from distributed.security import Security

Role = Literal["scheduler", "worker"]
VALID_DAYS = 3650


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    @classmethod
    def given(cls, ca: Path | None, cert: Path | None, key: Path | None) -> TLSFiles | None:
        """The three files, or None when none is given; ValueError when only some are, or
        one is missing."""
        if ca is None and cert is None and key is None:
            return None
        if ca is None or cert is None or key is None:
            raise ValueError("mutual TLS needs all three: the CA, a certificate and its key")
        for path in (ca, cert, key):
            if not path.is_file():
                raise ValueError(f"no such file: {path}")
        return cls(ca, cert, key)


def tls_security(files: TLSFiles | None, role: Role) -> Security | None:
    """Dask's security settings for the manager (``scheduler``: it also connects to itself as
    a client) or a render node (``worker``); None without TLS files. Encryption is required:
    nothing in clear text is accepted."""
    if files is None:
        return None
    ca, cert, key = str(files.ca), str(files.cert), str(files.key)
    if role == "scheduler":
        return Security(
            tls_ca_file=ca,
            tls_scheduler_cert=cert,
            tls_scheduler_key=key,
            tls_client_cert=cert,
            tls_client_key=key,
            require_encryption=True,
        )
    return Security(
        tls_ca_file=ca,
        tls_worker_cert=cert,
        tls_worker_key=key,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )


def make_certificates(
    directory: Path, nodes: list[str], hosts: list[str] | None = None
) -> dict[str, TLSFiles]:
    """A certificate authority in ``directory`` (kept when it exists) and certificates it
    signs: ``manager`` (for ``hosts`` as names or IP addresses) and one per node. Returns
    party → its files; private keys are written readable by their owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / "ca.pem", directory / "ca.key"
    if ca_cert_path.is_file() and ca_key_path.is_file():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not a key made by render-farm certs")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate("render-farm CA", ca_key.public_key(), ca_key, None, ca=True)
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    made: dict[str, TLSFiles] = {}
    parties = [("manager", hosts or ["localhost", "127.0.0.1"])]
    parties += [(f"node-{node}", [node]) for node in nodes]
    for name, names in parties:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key.public_key(), ca_key, ca_cert, names=names)
        files = TLSFiles(ca_cert_path, directory / f"{name}.pem", directory / f"{name}.key")
        _write_key(files.key, key)
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        made[name] = files
    return made


def _certificate(
    common_name: str,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    *,
    ca: bool = False,
    names: list[str] | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:  # both ends of a connection authenticate
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    if names:
        alternative: list[x509.GeneralName] = []
        for name in names:
            try:
                alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
