from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataplane.mesh.ca import (
    CLOCK_SKEW,
    expired,
    issue_workload,
    issued_by,
    make_root,
    rotation_due,
    spiffe_id_of,
)
from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
IDENT = SpiffeId("cluster.local", "shop", "backend")


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def test_root_is_a_p256_ca_limited_to_leaves() -> None:
    root = make_root("demo", NOW).cert
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert root.subject == root.issuer
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "dpctl"
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "demo root"
    basic = ext(root, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ext(root, x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.digital_signature
    assert root.not_valid_after_utc - root.not_valid_before_utc == dt.timedelta(days=3650)
    root.verify_directly_issued_by(root)


def test_workload_certificate_fields() -> None:
    root = make_root("demo", NOW)
    leaf = issue_workload(root, IDENT, NOW).cert
    assert leaf.subject == x509.Name([])
    assert leaf.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    san = ext(leaf, x509.SubjectAlternativeName)
    assert san.critical
    assert list(san.value) == [x509.UniformResourceIdentifier("spiffe://cluster.local/ns/shop/sa/backend")]
    assert spiffe_id_of(leaf) == IDENT
    eku = ext(leaf, x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = ext(leaf, x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert not ext(leaf, x509.BasicConstraints).value.ca
    aki = ext(leaf, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(root.cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(leaf, x509.SubjectKeyIdentifier).value.digest
    assert leaf.not_valid_before_utc == NOW - CLOCK_SKEW  # backdated for clock skew
    assert leaf.not_valid_after_utc == NOW + dt.timedelta(hours=24)
    assert issued_by(leaf, root.cert)
    assert not issued_by(leaf, make_root("other", NOW).cert)


def test_custom_lifetime() -> None:
    leaf = issue_workload(make_root("demo", NOW), IDENT, NOW, dt.timedelta(hours=1)).cert
    assert leaf.not_valid_after_utc == NOW + dt.timedelta(hours=1)


def test_rotation_due_at_half_life() -> None:
    leaf = issue_workload(make_root("demo", NOW), IDENT, NOW).cert
    half = leaf.not_valid_before_utc + (leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 2
    assert not rotation_due(leaf, NOW)
    assert not rotation_due(leaf, half - dt.timedelta(seconds=1))
    assert rotation_due(leaf, half)
    assert rotation_due(leaf, leaf.not_valid_before_utc - dt.timedelta(seconds=1))  # clock stepped back


def test_expired_window() -> None:
    leaf = issue_workload(make_root("demo", NOW), IDENT, NOW).cert
    assert not expired(leaf, NOW)
    assert expired(leaf, NOW + dt.timedelta(hours=25))
    assert expired(leaf, NOW - dt.timedelta(minutes=3))


def test_spiffe_id_of_refuses_certificates_without_one() -> None:
    with pytest.raises(InvalidSpiffeId):
        spiffe_id_of(make_root("demo", NOW).cert)
