"""Licence and PII filters on fixtures with planted cases."""

from __future__ import annotations

import pytest

from patchloop.datagen.filters.licence import from_metadata, parse_spdx, permissive
from patchloop.datagen.filters.pii import EMAIL, IP, KEY, redact

LICENCE_CASES = [
    # (metadata, spdx, permissive, source)
    ("Name: a\nLicense-Expression: MIT\n", "MIT", True, "License-Expression"),
    ("Name: a\nLicense-Expression: Apache-2.0 OR GPL-3.0-only\n", "Apache-2.0 OR GPL-3.0-only", True,
     "License-Expression"),
    ("Name: a\nLicense-Expression: MIT AND GPL-2.0-only\n", "MIT AND GPL-2.0-only", False, "License-Expression"),
    ("Name: a\nLicense-Expression: Apache-2.0 WITH LLVM-exception\n", "Apache-2.0 WITH LLVM-exception", True,
     "License-Expression"),
    ("Name: a\nLicense: BSD-3-Clause\n", "BSD-3-Clause", True, "License"),
    ("Name: a\nLicense: MIT License\n", "MIT", True, "License"),
    ("Name: a\nLicense: GPL\n", "GPL-3.0-or-later", False, "License"),
    ("Name: a\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\n", "BSD-3-Clause", True,
     "classifier"),
    ("Name: a\nClassifier: License :: OSI Approved :: Python Software Foundation License\n", "PSF-2.0", True,
     "classifier"),
    ("Name: a\nLicense: Copyright (c) ACME, all rights reserved\n", None, False, "none"),
    ("Name: a\n", None, False, "none"),
]


@pytest.mark.parametrize("meta,spdx,ok,source", LICENCE_CASES)
def test_licence_from_metadata(meta, spdx, ok, source):
    lic = from_metadata(meta)
    assert (lic.spdx, lic.permissive, lic.source) == (spdx, ok, source)


def test_unknown_licence_key_is_not_spdx_and_not_permissive():
    assert parse_spdx("Foo-Public-1.0") is None
    assert not permissive("Foo-Public-1.0")
    assert permissive("(MIT OR GPL-3.0-only) AND ISC") and not permissive("MPL-2.0")


PLANTED = '''"""Client for the ledger service. Maintainer: jane.doe@corp-mail.io"""
SERVER = "93.184.216.34"   # production
LOCAL = "127.0.0.1"        # tests talk to this one
PRIVATE = "10.1.2.3"
DOCS = "someone@example.com"
AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
PEM = """-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAn4vjFmuBYQ8yYn4
-----END RSA PRIVATE KEY-----"""
V6 = "2001:4860:4860::8888"
step = data[::2]
digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
'''


def test_planted_pii_is_replaced_and_counted():
    r = redact(PLANTED)
    assert r.counts == {"EMAIL": 1, "IP_ADDRESS": 2, "KEY": 3}
    for secret in ("jane.doe@corp-mail.io", "93.184.216.34", "AKIAIOSFODNN7EXAMPLE", "ghp_abcdef",
                   "MIIEowIBAAKCAQEAn4vjFmuBYQ8yYn4", "2001:4860:4860::8888"):
        assert secret not in r.text
    assert f'SERVER = "{IP}"' in r.text and f"Maintainer: {EMAIL}" in r.text
    assert f'AWS_ACCESS_KEY_ID = "{KEY}"' in r.text and f'GITHUB = "{KEY}"' in r.text


def test_what_is_not_pii_stays():
    r = redact(PLANTED)
    for kept in ('"127.0.0.1"', '"10.1.2.3"', "someone@example.com", "data[::2]",
                 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"):
        assert kept in r.text
    assert redact("x = 1\n").counts == {}
