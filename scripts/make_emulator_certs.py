"""Regenerate the emulator's throwaway PKI shipped in ``neuromorpho_api/testing/data``.

Developer tool, not run by tests or CI: ``python scripts/make_emulator_certs.py`` (needs trustme).
The CA private key is generated in memory and discarded, so nobody can issue further
certificates under the shipped CA. The server key *is* shipped, so anyone can present it: it
serves only ``neuromorpho demo`` without trustme, and an emulator using it never puts its CA
into the environment. Emulators otherwise make a new CA and key per run
(``Identity.generate``); the DH parameters written here serve both.
"""

from __future__ import annotations

import datetime
import pathlib

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

DATA = pathlib.Path(__file__).resolve().parents[1] / "src" / "neuromorpho_api" / "testing" / "data"

# RFC 2409 Oakley group 2 (1024-bit MODP) and RFC 3526 group 14 (2048-bit MODP), generator 2:
# fixed, well-known safe primes, so no slow parameter generation is needed.
OAKLEY_GROUP_2 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)
MODP_GROUP_14 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)


def dh_pem(prime: int) -> bytes:
    params = dh.DHParameterNumbers(prime, 2).parameters()
    return params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(
        organization_name="neuromorpho-api emulator (loopback only, do not trust)",
        key_type=trustme.KeyType.RSA,
    )
    leaf = ca.issue_cert(
        "neuromorpho.org",
        "www.neuromorpho.org",
        "localhost",
        "127.0.0.1",
        organization_name="neuromorpho-api emulator",
        not_after=datetime.datetime(2075, 1, 1),
        key_type=trustme.KeyType.RSA,
    )
    (DATA / "emulator-ca.pem").write_bytes(ca.cert_pem.bytes())
    (DATA / "emulator-server.pem").write_bytes(
        b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    )
    (DATA / "emulator-server-key.pem").write_bytes(leaf.private_key_pem.bytes())
    (DATA / "dh1024.pem").write_bytes(dh_pem(OAKLEY_GROUP_2))
    (DATA / "dh2048.pem").write_bytes(dh_pem(MODP_GROUP_14))
    print(f"wrote the emulator PKI into {DATA.relative_to(pathlib.Path.cwd())}")


if __name__ == "__main__":
    main()
