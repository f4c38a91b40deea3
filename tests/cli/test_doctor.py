"""`neuromorpho doctor` when the certificate-trust variables are wrong: it diagnoses, not dies."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuromorpho_api._doctor import check_ca_location, trust_settings
from neuromorpho_api.testing import Emulator

from .test_cli import run


@pytest.fixture(scope="module")
def site() -> Emulator:
    emulator = Emulator(50)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_missing_bundle_is_named_and_the_report_goes_on(
    site: Emulator, tmp_path: Path, variable: str
) -> None:
    missing = str(tmp_path / "gone.pem")
    # SSL_CERT_FILE (which emulator.environ() also sets) would let the system store in.
    env = {"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": "", variable: missing}
    result = run(["doctor"], site, extra_env=env)
    assert result.returncode == 1
    assert result.stderr == ""
    out = result.stdout
    assert f"{variable:<22} {missing!r}: NOT USABLE: no such file or directory" in out
    assert f"plain requests         FAILED: CA bundle {missing!r}: no such file" in out
    assert "DH group" in out and "verdict" in out, "the whole report is printed"
    assert f"verdict                {variable} is set to {missing!r}, which is not usable" in out
    # The emulator's CA is in no default store here: the fallback is tried and fails honestly.
    assert "with certifi's bundle  FAILED: [SSL: CERTIFICATE_VERIFY_FAILED]" in out
    assert "The default trust stores do not reach the site either" in out


def test_says_which_default_store_works(site: Emulator, tmp_path: Path) -> None:
    """SSL_CERT_FILE moves OpenSSL's default store to the emulator's CA: that probe works."""
    missing = str(tmp_path / "gone.pem")
    env = {"REQUESTS_CA_BUNDLE": missing, "SSL_CERT_FILE": site.ca_bundle}
    result = run(["doctor"], site, extra_env=env)
    assert result.returncode == 1
    out = result.stdout
    assert f"SSL_CERT_FILE          {site.ca_bundle!r}: ok" in out
    assert f"system CA store        {site.ca_bundle}" in out
    assert "with the system store  HTTP 200, TLSv1.2, DHE-RSA-" in out
    assert "certificate verified" in out
    assert "Without it, neuromorpho_api reaches the site with the system store." in out


def test_junk_bundle_and_bad_openssl_variables(site: Emulator, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    env = {
        "REQUESTS_CA_BUNDLE": str(junk),
        "SSL_CERT_FILE": str(tmp_path),
        "SSL_CERT_DIR": str(tmp_path / "nodir"),
    }
    result = run(["doctor"], site, extra_env=env)
    assert result.returncode == 1
    assert result.stderr == ""
    out = result.stdout
    assert f"REQUESTS_CA_BUNDLE     {str(junk)!r}: NOT USABLE: no PEM certificate in it" in out
    assert "SSL_CERT_FILE" in out and "NOT USABLE: a directory, not a file" in out
    assert "SSL_CERT_DIR" in out and "nodir: no such file or directory" in out
    assert "verdict                REQUESTS_CA_BUNDLE is set to" in out


def test_a_bad_openssl_variable_alone_does_not_fail_the_probes(
    site: Emulator, tmp_path: Path
) -> None:
    """requests does not read SSL_CERT_FILE: named as wrong, but the verdict is the TLS one."""
    result = run(["doctor"], site, extra_env={"SSL_CERT_FILE": str(tmp_path / "gone.pem")})
    assert result.returncode == 0, result.stdout
    assert "NOT USABLE: no such file or directory (Python's ssl default store" in result.stdout
    assert "verdict                needed" in result.stdout
    assert "with certifi's bundle" not in result.stdout


def test_the_usable_bundle_wins_over_an_ignored_one(tmp_path: Path, site: Emulator) -> None:
    settings = trust_settings(
        {"REQUESTS_CA_BUNDLE": site.ca_bundle, "CURL_CA_BUNDLE": str(tmp_path / "x")}
    )
    assert [(s.variable, s.used_by_requests) for s in settings] == [
        ("REQUESTS_CA_BUNDLE", True),
        ("CURL_CA_BUNDLE", False),
    ]
    assert settings[0].problem is None
    assert settings[1].note == "requests ignores it: REQUESTS_CA_BUNDLE wins"


def test_check_ca_location(tmp_path: Path, site: Emulator) -> None:
    assert check_ca_location(site.ca_bundle) is None
    assert check_ca_location(str(tmp_path)) is None
    assert check_ca_location(str(tmp_path), directories=False) == "a directory, not a file"
    assert check_ca_location(site.ca_bundle, files=False) == "a file, not a directory"
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    assert check_ca_location(str(empty)) == "no PEM certificate in it"
