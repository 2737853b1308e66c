"""py_webauthn (PyPI "webauthn") verifies a registration and an assertion that
tpm-passkey produced. python-fido2 is only the client (it carries the CTAP messages);
the relying-party checks are py_webauthn's own.

Usage: py_webauthn_e2e.py verify | tpm_attestation
tpm_attestation: TPM_PASSKEY_CA is the enrolment CA (PEM), TPM_PASSKEY_OTHER_CA another one.
"""
import json
import os
import sys

from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    AuthenticatorSelectionCriteria,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.exceptions import InvalidRegistrationResponse
from webauthn.helpers.structs import AttestationFormat

from socket_hid import open_device

ORIGIN = "https://login.example.org"
RP_ID = "login.example.org"
PIN = os.environ.get("TPM_PASSKEY_PIN", "4711")


class PinOnly(UserInteraction):
    def request_uv(self, permissions, rp_id):
        return False

    def request_pin(self, permissions, rp_id):
        return PIN


def register(client, user_id, name):
    """A discoverable, user-verified registration asking for direct attestation: (the
    challenge, the response)."""
    challenge = os.urandom(32)
    reg = client.make_credential(
        PublicKeyCredentialCreationOptions(
            rp=PublicKeyCredentialRpEntity(id=RP_ID, name="Example Login"),
            user=PublicKeyCredentialUserEntity(id=user_id, name=name, display_name=name.title()),
            challenge=challenge,
            pub_key_cred_params=[PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=-7)],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            attestation="direct",
        )
    )
    return challenge, reg


def scenario_verify():
    dev = open_device(os.environ["TPM_PASSKEY_HID"])
    ClientPin(Ctap2(dev)).set_pin(PIN)
    client = Fido2Client(dev, client_data_collector=DefaultClientDataCollector(ORIGIN), user_interaction=PinOnly())

    challenge, reg = register(client, b"uid-42", "frank")
    verified = verify_registration_response(
        credential=json.dumps(dict(reg)),
        expected_challenge=challenge,
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        require_user_verification=True,
    )
    assert str(getattr(verified.fmt, "value", verified.fmt)) == "packed", verified.fmt
    assert verified.user_verified
    assert verified.sign_count == 0

    # Counters must grow (a client's silent pre-flight probe also counts as a use).
    previous = 0
    for _ in range(2):
        challenge = os.urandom(32)
        selection = client.get_assertion(
            PublicKeyCredentialRequestOptions(
                challenge=challenge,
                rp_id=RP_ID,
                allow_credentials=[PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=verified.credential_id)],
                user_verification=UserVerificationRequirement.REQUIRED,
            )
        )
        auth = verify_authentication_response(
            credential=json.dumps(dict(selection.get_response(0))),
            expected_challenge=challenge,
            expected_origin=ORIGIN,
            expected_rp_id=RP_ID,
            credential_public_key=verified.credential_public_key,
            credential_current_sign_count=previous,
            require_user_verification=True,
        )
        assert auth.new_sign_count > previous, auth.new_sign_count
        previous = auth.new_sign_count
        assert auth.user_verified


def scenario_tpm_attestation():
    """A passkey registered with `tpm` attestation: py_webauthn accepts the statement with
    the enrolment CA as the trust anchor, and refuses the same statement with another CA."""
    dev = open_device(os.environ["TPM_PASSKEY_HID"])
    ClientPin(Ctap2(dev)).set_pin(PIN)
    client = Fido2Client(dev, client_data_collector=DefaultClientDataCollector(ORIGIN), user_interaction=PinOnly())
    challenge, reg = register(client, b"uid-7", "grace")
    credential = json.dumps(dict(reg))

    def verify(ca_path):
        with open(ca_path, "rb") as f:
            roots = {AttestationFormat.TPM: [f.read()]}
        return verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_origin=ORIGIN,
            expected_rp_id=RP_ID,
            require_user_verification=True,
            pem_root_certs_bytes_by_fmt=roots,
        )

    verified = verify(os.environ["TPM_PASSKEY_CA"])
    assert str(getattr(verified.fmt, "value", verified.fmt)) == "tpm", verified.fmt
    assert verified.user_verified
    try:
        verify(os.environ["TPM_PASSKEY_OTHER_CA"])
    except InvalidRegistrationResponse as e:
        print("another CA refused:", e)
    else:
        raise AssertionError("the statement verified under a CA that never saw this TPM")
    # The passkey signs in like any other.
    challenge = os.urandom(32)
    selection = client.get_assertion(
        PublicKeyCredentialRequestOptions(challenge=challenge, rp_id=RP_ID,
                                          user_verification=UserVerificationRequirement.REQUIRED)
    )
    verify_authentication_response(
        credential=json.dumps(dict(selection.get_response(0))),
        expected_challenge=challenge,
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        credential_public_key=verified.credential_public_key,
        credential_current_sign_count=0,
        require_user_verification=True,
    )


if __name__ == "__main__":
    {"verify": scenario_verify, "tpm_attestation": scenario_tpm_attestation}[sys.argv[1]]()
    print("ok", sys.argv[1])
