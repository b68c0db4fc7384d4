from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from dataplane.mesh.ca import utcnow
from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId
from dataplane.mesh.store import CertificateStore

from .conftest import CLIENT, SERVER


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_permissions(store: CertificateStore) -> None:
    previous = os.umask(0)  # modes are forced, not left to the umask
    try:
        store.workload(SERVER)
    finally:
        os.umask(previous)
    assert mode(store.directory) == 0o700
    assert mode(os.path.dirname(store.key_path(SERVER))) == 0o700
    assert mode(store.root_key_path) == 0o600
    assert mode(store.key_path(SERVER)) == 0o600
    assert mode(store.root_cert_path) == 0o644
    assert mode(store.cert_path(SERVER)) == 0o644


def test_reload_keeps_existing_certificates(store: CertificateStore) -> None:
    leaf = store.workload(SERVER)
    root = store.root()
    again = CertificateStore(store.directory, "demo", store.trust_domain)
    assert again.root().serial_number == root.serial_number
    assert again.workload(SERVER).serial_number == leaf.serial_number


def test_reissue_at_half_life(store: CertificateStore) -> None:
    leaf = store.workload(SERVER)
    later = utcnow().replace(microsecond=0) + dt.timedelta(hours=13)
    fresh = store.workload(SERVER, later)
    assert fresh.serial_number != leaf.serial_number
    assert fresh.not_valid_before_utc == later - dt.timedelta(minutes=2)
    assert store.root().serial_number == store.root(later).serial_number


def test_reissue_when_root_replaced(store: CertificateStore) -> None:
    leaf = store.workload(SERVER)
    os.unlink(store.root_key_path)  # a damaged root is replaced ...
    store.root()
    assert store.workload(SERVER).serial_number != leaf.serial_number  # ... and its leaves with it


def test_reissue_when_key_does_not_match(store: CertificateStore) -> None:
    leaf = store.workload(SERVER)
    store.workload(CLIENT)
    with open(store.key_path(CLIENT), "rb") as src, open(store.key_path(SERVER), "wb") as dst:
        dst.write(src.read())
    assert store.workload(SERVER).serial_number != leaf.serial_number


def test_refuses_identity_of_another_trust_domain(store: CertificateStore) -> None:
    with pytest.raises(InvalidSpiffeId):
        store.workload(SpiffeId("other.local", "shop", "backend"))


def test_listing_statuses(store: CertificateStore) -> None:
    now = utcnow().replace(microsecond=0)
    assert store.listing(now) == []
    store.workload(SERVER, now)
    store.workload(CLIENT, now)
    rows = {r.name: r for r in store.listing(now)}
    assert [r.type for r in store.listing(now)] == ["Root", "Leaf", "Leaf"]
    assert rows["ROOTCA"].status == "Valid" and rows["ROOTCA"].spiffe_id == ""
    assert rows["shop/backend"].spiffe_id == "spiffe://cluster.local/ns/shop/sa/backend"
    assert rows["shop/backend"].serial == format(store.workload(SERVER, now).serial_number, "x")
    assert rows["shop/backend"].status == "Valid"
    assert {r.status for r in store.listing(now + dt.timedelta(hours=13)) if r.type == "Leaf"} == {"RotationDue"}
    assert {r.status for r in store.listing(now + dt.timedelta(hours=25)) if r.type == "Leaf"} == {"Expired"}
    assert rows["default/sleep"].not_after == now + dt.timedelta(hours=24)
