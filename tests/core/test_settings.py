"""Group settings: every bad value is refused with the field's name; secrets stay hidden."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pycarp.core.auth import SignatureMode
from pycarp.core.settings import SettingsError

from .support import PASSPHRASE, group_settings


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("vhid", 0),
        ("vhid", 256),
        ("vhid", True),  # bool is an int subclass, but never a vhid
        ("vhid", "1"),
        ("vhid", 1.0),
        ("advbase", -1),
        ("advbase", 256),
        ("advskew", -1),
        ("advskew", 255),  # reserved for the bow-out advert
        ("dead_ratio", 0),
        ("dead_ratio", 256),
        ("senderr_demotion", -1),
        ("senderr_demotion", 241),
        ("passphrase", b""),
        ("passphrase", b"x" * 21),
        ("addresses", ()),
        ("addresses", ("198.51.100.1",)),
        ("addresses", (ipaddress.IPv4Address("198.51.100.1"),) * 2),
    ],
)
def test_every_bad_value_names_its_field(field: str, bad: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        group_settings(**{field: bad})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert caught.value.allowed in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vhid", 1),
        ("vhid", 255),
        ("advbase", 255),
        ("advskew", 254),
        ("dead_ratio", 1),
        ("senderr_demotion", 0),
        ("passphrase", b"x" * 20),
    ],
)
def test_boundary_values_are_accepted(field: str, value: Any) -> None:
    assert getattr(group_settings(**{field: value}), field) == value


def test_a_long_passphrase_is_not_echoed_in_the_error() -> None:
    secret = b"do-not-print-me-ever-please"
    with pytest.raises(SettingsError) as caught:
        group_settings(passphrase=secret)
    assert secret.decode() not in str(caught.value)
    assert "27 bytes" in str(caught.value)


def test_repr_hides_the_passphrase() -> None:
    settings = group_settings(signature_mode=SignatureMode.UCARP)
    text = repr(settings)
    assert PASSPHRASE.decode() not in text
    assert repr(PASSPHRASE) not in text
    assert "passphrase='<hidden>'" in text
    assert "vhid=7" in text
    assert "SignatureMode.UCARP" in text
    assert text.startswith("GroupSettings(")


def test_defaults_are_the_kernels() -> None:
    settings = group_settings()
    assert (settings.advbase, settings.advskew, settings.dead_ratio) == (1, 0, 3)
    assert settings.preempt is False
    assert settings.multicast is True
    assert settings.signature_mode is SignatureMode.KERNEL
    assert settings.senderr_demotion == 240
