#!/usr/bin/env python3
"""A test CA that enrols a TPM's attestation key the standard way (TPM 2.0 Part 1 §24,
credential activation), written from the specification with Python `cryptography` and
tpm2-tools' software TPM2_MakeCredential — no code shared with tpm-passkey.

    attestation_ca.py newca DIR
        make a CA (DIR/ca-key.pem, DIR/ca.pem)
    attestation_ca.py issue DIR REQUEST.json RESPONSE.json EK_ROOT.pem [EK_ROOT.pem ...]
        [--wrong-name] [--other-key]

`issue` checks the EK certificate against the TPM maker's roots, checks that the EK public
area in the request is the certified key and that the AK is a restricted, fixedTPM signing
key whose Name is the one given, issues the AK certificate WebAuthn §8.3.1 asks for, and
answers with a credential sealed to the EK for the AK's Name plus the certificate encrypted
under that credential (AES-256-GCM). --wrong-name seals it for another Name (an attack: the
TPM must refuse to activate it); --other-key certifies another public key than the AK (the
daemon must refuse to install it).
"""

import datetime
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

TPM_ALG_RSA, TPM_ALG_ECC, TPM_ALG_SHA256, TPM_ALG_NULL = 0x0001, 0x0023, 0x000B, 0x0010
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN = 1 << 1, 1 << 4, 1 << 5
RESTRICTED, DECRYPT, SIGN = 1 << 16, 1 << 17, 1 << 18


class Reader:
    def __init__(self, b):
        self.b, self.off = b, 0

    def take(self, n):
        if self.off + n > len(self.b):
            raise ValueError("truncated public area")
        out = self.b[self.off:self.off + n]
        self.off += n
        return out

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def sized(self):
        return self.take(self.u16())


def parse_public(b):
    """TPMT_PUBLIC (Part 2 §12.2.4) for RSA and ECC keys: (type, attributes, key)."""
    r = Reader(b)
    kind, name_alg, attrs = r.u16(), r.u16(), r.u32()
    if name_alg != TPM_ALG_SHA256:
        raise ValueError("name algorithm is not SHA-256")
    r.sized()  # authPolicy
    sym = r.u16()
    if sym != TPM_ALG_NULL:
        r.u16(), r.u16()  # keyBits, mode
    scheme = r.u16()
    if scheme != TPM_ALG_NULL:
        r.u16()  # the scheme's hash
    if kind == TPM_ALG_RSA:
        bits, exponent = r.u16(), r.u32()
        n = int.from_bytes(r.sized(), "big")
        key = rsa.RSAPublicNumbers(exponent or 65537, n).public_key()
    elif kind == TPM_ALG_ECC:
        curve = r.u16()
        if curve != 0x0003:
            raise ValueError("not P-256")
        kdf = r.u16()
        if kdf != TPM_ALG_NULL:
            r.u16()
        x, y = r.sized(), r.sized()
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    else:
        raise ValueError("unknown key type")
    if r.off != len(b):
        raise ValueError("trailing bytes in public area")
    return kind, attrs, key


def spki(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def new_ca(d):
    os.makedirs(d, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Test attestation CA {os.path.basename(d)}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tpm-passkey tests")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(d, "ca-key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def check_ek_certificate(ek_der, roots):
    ek_cert = x509.load_der_x509_certificate(ek_der)
    pool = []
    for path in roots:
        with open(path, "rb") as f:
            pool += x509.load_pem_x509_certificates(f.read())
    cert = ek_cert
    for _ in range(4):
        issuer = next((c for c in pool if c.subject == cert.issuer), None)
        if issuer is None:
            raise ValueError("the EK certificate does not chain to the TPM maker's roots")
        cert.verify_directly_issued_by(issuer)
        if issuer.subject == issuer.issuer:
            return ek_cert
        cert = issuer
    raise ValueError("EK chain too long")


def issue(d, request_path, response_path, roots, wrong_name=False, other_key=False):
    with open(request_path) as f:
        req = json.load(f)
    assert req["format"] == "tpm-passkey-attestation-request-1", req["format"]
    ek_cert = check_ek_certificate(bytes.fromhex(req["ek_certificate"]), roots)
    # The EK public area must be the certified key (TPM2B_PUBLIC: a size, then TPMT_PUBLIC).
    ek_2b = bytes.fromhex(req["ek_public"])
    kind, _, ek_key = parse_public(ek_2b[2:2 + struct.unpack(">H", ek_2b[:2])[0]])
    if spki(ek_key) != spki(ek_cert.public_key()):
        raise ValueError("the EK public area is not the certified EK")
    # The AK: restricted, fixedTPM signing key, and its Name as given.
    ak_public = bytes.fromhex(req["ak_public"])
    kind, attrs, ak_key = parse_public(ak_public)
    need = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | SIGN
    if kind != TPM_ALG_ECC or attrs & need != need or attrs & DECRYPT:
        raise ValueError("the AK is not a restricted fixedTPM signing key")
    name = struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(ak_public).digest()
    if name.hex() != req["ak_name"]:
        raise ValueError("the AK Name does not match its public area")
    if wrong_name:
        name = struct.pack(">H", TPM_ALG_SHA256) + os.urandom(32)
    if other_key:
        ak_key = ec.generate_private_key(ec.SECP256R1()).public_key()

    with open(os.path.join(d, "ca-key.pem"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, "ca.pem"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.DirectoryName(x509.Name([
        x509.RelativeDistinguishedName([
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.1"), req["tpm_manufacturer"]),
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.2"), req["tpm_model"]),
            x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.3"), req["tpm_version"]),
        ])
    ]))
    ak_cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_cert.subject)
               .public_key(ak_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=365))
               .add_extension(x509.SubjectAlternativeName([san]), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier("2.23.133.8.3")]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    credential = os.urandom(32)
    with tempfile.TemporaryDirectory() as t:
        ek_pem, secret, out = (os.path.join(t, n) for n in ("ek.pem", "secret", "cred"))
        with open(ek_pem, "wb") as f:
            f.write(ek_cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        with open(secret, "wb") as f:
            f.write(credential)
        subprocess.run(["tpm2_makecredential", "-T", "none", "-u", ek_pem, "-G", "rsa", "-s", secret,
                        "-n", name.hex(), "-o", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            blob = f.read()
    # tpm2-tools' file: 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
    r = Reader(blob)
    if r.u32() != 0xBADCC0DE or r.u32() != 1:
        raise ValueError("unexpected tpm2_makecredential output")
    id_object, encrypted_secret = r.sized(), r.sized()
    nonce = os.urandom(12)
    chain = json.dumps([ak_cert.public_bytes(serialization.Encoding.DER).hex()]).encode()
    response = {
        "format": "tpm-passkey-attestation-response-1",
        "credential_blob": id_object.hex(),
        "encrypted_secret": encrypted_secret.hex(),
        "nonce": nonce.hex(),
        "encrypted_chain": AESGCM(credential).encrypt(nonce, chain, None).hex(),
    }
    with open(response_path, "w") as f:
        json.dump(response, f)


def main(argv):
    if argv[1] == "newca":
        new_ca(argv[2])
    elif argv[1] == "issue":
        flags = {"--wrong-name", "--other-key"}
        args = [a for a in argv[2:] if a not in flags]
        issue(args[0], args[1], args[2], args[3:], wrong_name="--wrong-name" in argv,
              other_key="--other-key" in argv)
    else:
        raise SystemExit(__doc__)
    print("ok", argv[1])


if __name__ == "__main__":
    main(sys.argv)
