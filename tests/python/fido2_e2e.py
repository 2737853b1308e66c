"""End-to-end scenarios with python-fido2 2.x (client and Fido2Server) against a running
tpm-passkey daemon on a real swtpm. Usage: fido2_e2e.py SCENARIO; the socket path comes
from TPM_PASSKEY_HID, the PIN the scripted agent types from TPM_PASSKEY_PIN.

Each scenario raises (non-zero exit) on any mismatch.
"""
import base64
import os
import sys

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap1 import APDU, ApduError, Ctap1
from fido2.ctap2.config import Config
from fido2.ctap2.credman import CredentialManagement
from fido2.hid import CAPABILITY
from fido2.utils import sha256
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from socket_hid import open_device

ORIGIN = "https://example.com"
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")
PIN = os.environ.get("TPM_PASSKEY_PIN", "4711")


class PinOnly(UserInteraction):
    """A user who types the PIN into the browser (clientPIN), never built-in UV."""

    def __init__(self, pin):
        self.pin = pin

    def request_uv(self, permissions, rp_id):
        return False

    def request_pin(self, permissions, rp_id):
        return self.pin


class BuiltInUv(UserInteraction):
    """A user who verifies on the authenticator's own prompt (the agent types the PIN)."""

    def request_uv(self, permissions, rp_id):
        return True


def device():
    return open_device(os.environ["TPM_PASSKEY_HID"])


def client(dev, interaction):
    return Fido2Client(dev, client_data_collector=DefaultClientDataCollector(ORIGIN), user_interaction=interaction)


def register(c, server, user_id, name, rk, extensions=None):
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=user_id, name=name, display_name=name.title()),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.REQUIRED,
        extensions=extensions,
    )
    result = c.make_credential(options.public_key)
    auth_data = server.register_complete(state, result)
    assert auth_data.is_user_verified(), "UV flag"
    assert auth_data.credential_data.aaguid is not None
    return auth_data.credential_data, result


def authenticate(c, server, creds, allow=True):
    options, state = server.authenticate_begin(creds if allow else None, user_verification=UserVerificationRequirement.REQUIRED)
    selection = c.get_assertion(options.public_key)
    responses = [selection.get_response(i) for i in range(len(selection.get_assertions()))]
    server.authenticate_complete(state, creds, responses[0])
    return selection, responses


def set_pin(dev):
    ctap = Ctap2(dev)
    ClientPin(ctap, PinProtocolV2()).set_pin(PIN)
    info = ctap.get_info()
    assert info.options["clientPin"] is True
    assert info.options["alwaysUv"] is True
    assert "FIDO_2_1" in info.versions
    return ctap


def scenario_pin_credentials():
    """Set PIN; register discoverable and not; sign in; wrong PIN costs a retry, the right
    one restores it; credential management lists and deletes; reset erases."""
    dev = device()
    ctap = set_pin(dev)
    server = Fido2Server(RP, attestation="direct")
    c = client(dev, PinOnly(PIN))
    rk_cred, reg = register(c, server, b"user-1", "alice", rk=True)
    assert reg.response.attestation_object.fmt == "packed", reg.response.attestation_object.fmt
    plain_cred, _ = register(c, server, b"user-2", "bob", rk=False)
    assert len(rk_cred.credential_id) == 32 and len(plain_cred.credential_id) > 32

    authenticate(c, server, [rk_cred, plain_cred])
    # Discoverable: no allow list, the authenticator finds alice.
    selection, responses = authenticate(c, server, [rk_cred], allow=False)
    assert responses[0].response.user_handle == b"user-1", responses[0].response.user_handle

    # A wrong PIN lowers the TPM-held retries by one; the right PIN restores them.
    for proto in (PinProtocolV1(), PinProtocolV2()):
        cp = ClientPin(ctap, proto)
        assert cp.get_pin_retries()[0] == 8
        try:
            cp.get_pin_token("0000")
            raise AssertionError("wrong PIN accepted")
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_INVALID, e.code
        assert cp.get_pin_retries()[0] == 7
        cp.get_pin_token(PIN)
        assert cp.get_pin_retries()[0] == 8

    # Credential management.
    cp = ClientPin(ctap)
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, cp.protocol, token)
    meta = cm.get_metadata()
    assert meta[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1, meta
    rps = cm.enumerate_rps()
    assert [r[CredentialManagement.RESULT.RP]["id"] for r in rps] == ["example.com"], rps
    creds = cm.enumerate_creds(rps[0][CredentialManagement.RESULT.RP_ID_HASH])
    assert creds[0][CredentialManagement.RESULT.USER]["name"] == "alice", creds
    cm.delete_cred(creds[0][CredentialManagement.RESULT.CREDENTIAL_ID])
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 0
    try:
        authenticate(c, server, [rk_cred], allow=False)
        raise AssertionError("deleted credential still signs")
    except ClientError as e:
        assert e.code == ClientError.ERR.DEVICE_INELIGIBLE or isinstance(e.cause, CtapError), e

    # Reset erases everything, including the PIN; the old non-discoverable id is dead.
    ctap.reset()
    info = ctap.get_info()
    assert info.options["clientPin"] is False
    set_pin(dev)
    try:
        authenticate(client(dev, PinOnly(PIN)), server, [plain_cred])
        raise AssertionError("credential survived reset")
    except ClientError:
        pass


def scenario_reset_needs_pin():
    """With a PIN set, authenticatorReset is approved only with the PIN typed into the
    prompt: an approval without it (this daemon's agent has no PIN) is UV_INVALID, and
    nothing is erased."""
    dev = device()
    ctap = set_pin(dev)
    server = Fido2Server(RP)
    register(client(dev, PinOnly(PIN)), server, b"user-r", "rita", rk=True)
    try:
        ctap.reset()
        raise AssertionError("reset without the PIN succeeded")
    except CtapError as e:
        assert e.code == CtapError.ERR.UV_INVALID, e.code
    cp = ClientPin(ctap)
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, cp.protocol, token)
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1
    assert ctap.get_info().options["clientPin"] is True


def scenario_hmac_secret():
    """hmac-secret (through WebAuthn PRF) gives the same secret for the same salt and
    another for another salt."""
    dev = device()
    set_pin(dev)
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    cred, reg = register(c, server, b"user-h", "carol", rk=True, extensions={"prf": {}})
    assert reg.client_extension_results["prf"]["enabled"] is True, reg.client_extension_results
    outputs = []
    for salt in (b"\x01" * 32, b"\x01" * 32, b"\x02" * 32):
        options, state = server.authenticate_begin([cred], user_verification=UserVerificationRequirement.REQUIRED)
        opts = options.public_key
        opts = type(opts)(
            challenge=opts.challenge, timeout=opts.timeout, rp_id=opts.rp_id,
            allow_credentials=opts.allow_credentials, user_verification=opts.user_verification,
            extensions={"prf": {"eval": {"first": salt}}},
        )
        resp = c.get_assertion(opts).get_response(0)
        server.authenticate_complete(state, [cred], resp)
        # WebAuthn JSON form: base64url without padding.
        first = resp.client_extension_results["prf"]["results"]["first"]
        outputs.append(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    assert outputs[0] == outputs[1], "same salt, same secret"
    assert outputs[0] != outputs[2], "another salt, another secret"
    assert len(outputs[0]) == 32, outputs[0]


def scenario_builtin_uv():
    """Built-in UV: the PIN is typed into tpm-passkey's own prompt (the scripted agent)."""
    dev = device()
    set_pin(dev)
    server = Fido2Server(RP)
    c = client(dev, BuiltInUv())
    cred, _ = register(c, server, b"user-u", "dave", rk=True)
    authenticate(c, server, [cred], allow=False)


def scenario_builtin_uv_with_pin_set():
    """Built-in UV with the PIN set beforehand (by the CLI): registration and a discoverable
    sign-in, every PIN typed into the approval agent's own prompt."""
    dev = device()
    server = Fido2Server(RP)
    c = client(dev, BuiltInUv())
    cred, _ = register(c, server, b"user-t", "tess", rk=True)
    authenticate(c, server, [cred], allow=False)


def scenario_pin_protocol_points():
    """What independent clients check: getPINRetries before any PIN is PIN_NOT_SET; the
    third wrong PIN in a row is PIN_AUTH_BLOCKED (retries remain), not PIN_BLOCKED; with
    forcePINChange the legacy getPinToken is PIN_INVALID and the with-permissions one
    PIN_POLICY_VIOLATION."""
    ctap = Ctap2(device())
    try:
        ClientPin(ctap).get_pin_retries()
        raise AssertionError("retries without a PIN")
    except CtapError as e:
        assert e.code == CtapError.ERR.PIN_NOT_SET, e.code
    ClientPin(ctap).set_pin(PIN)
    cp = ClientPin(ctap, PinProtocolV2())
    # forcePINChange through authenticatorConfig (setMinPINLength, forceChangePin).
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, cp.protocol, token).set_min_pin_length(force_change_pin=True)
    assert ctap.get_info().force_pin_change is True
    for perms, code in ((None, CtapError.ERR.PIN_INVALID), (ClientPin.PERMISSION.GET_ASSERTION, CtapError.ERR.PIN_POLICY_VIOLATION)):
        try:
            cp.get_pin_token(PIN, perms, "example.com" if perms else None)
            raise AssertionError("a token while the PIN must change")
        except CtapError as e:
            assert e.code == code, (perms, e.code)
    new = PIN + "9"
    cp.change_pin(PIN, new)
    assert ctap.get_info().force_pin_change is False
    for i in range(3):
        try:
            cp.get_pin_token("0000", ClientPin.PERMISSION.GET_ASSERTION, "example.com")
            raise AssertionError("wrong PIN accepted")
        except CtapError as e:
            want = CtapError.ERR.PIN_AUTH_BLOCKED if i == 2 else CtapError.ERR.PIN_INVALID
            assert e.code == want, (i, e.code)
    retries, power_cycle = cp.get_pin_retries()
    assert retries == 5 and power_cycle is True, (retries, power_cycle)


def scenario_cred_blob_and_prf_at_registration():
    """credBlob (CTAP 2.1 §12.2) is kept with a discoverable passkey and returned on request;
    hmac-secret-mc (CTAP 2.2) gives the PRF output at registration, the same a later sign-in
    gives for the same salt; getInfo advertises both and maxCredBlobLength."""
    dev = device()
    ctap = set_pin(dev)
    info = ctap.get_info()
    for ext in ("credBlob", "hmac-secret-mc", "hmac-secret"):
        assert ext in info.extensions, info.extensions
    assert info.max_cred_blob_length >= 32, info.max_cred_blob_length
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    blob = b"tpm-passkey blob \x00\x01\x02" + bytes(range(16))
    salt = b"\x07" * 32
    cred, reg = register(c, server, b"user-b", "blob", rk=True,
                         extensions={"credBlob": blob, "prf": {"eval": {"first": salt}}})
    ext_out = reg.response.attestation_object.auth_data.extensions
    assert ext_out.get("credBlob") is True, ext_out
    assert "hmac-secret-mc" in ext_out, ext_out
    at_registration = reg.client_extension_results["prf"]["results"]["first"]
    options, state = server.authenticate_begin([cred], user_verification=UserVerificationRequirement.REQUIRED)
    opts = options.public_key
    opts = type(opts)(challenge=opts.challenge, timeout=opts.timeout, rp_id=opts.rp_id,
                      allow_credentials=opts.allow_credentials, user_verification=opts.user_verification,
                      extensions={"getCredBlob": True, "prf": {"eval": {"first": salt}}})
    resp = c.get_assertion(opts).get_response(0)
    server.authenticate_complete(state, [cred], resp)
    assert resp.response.authenticator_data.extensions.get("credBlob") == blob, resp.response.authenticator_data.extensions
    assert resp.client_extension_results["prf"]["results"]["first"] == at_registration
    # A blob too long for maxCredBlobLength is not sent by the client; one for a
    # non-discoverable credential is refused (credBlob: false).
    _, reg2 = register(c, server, b"user-c", "noblob", rk=False, extensions={"credBlob": b"x" * 8})
    assert reg2.response.attestation_object.auth_data.extensions.get("credBlob") is False


def scenario_choose_account():
    """Two accounts for one site: a discoverable sign-in lists both in the prompt; the agent
    chooses the second listed (TPM_PASSKEY_CHOICE, from 1); exactly that account comes
    back, and no numberOfCredentials — with userSelected when this process is named as a
    Chromium-family browser (TPM_PASSKEY_EXPECT_USER_SELECTED=1), without it otherwise. With
    an allowList: no userSelected. A PIN typed into the browser (clientPIN) and built-in UV
    alike."""
    dev = device()
    ctap = set_pin(dev)
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    cred_a, _ = register(c, server, b"user-a", "alice", rk=True)
    cred_b, _ = register(c, server, b"user-b", "bob", rk=True)
    # Most recent first: bob is listed first, alice second.
    want = {"1": b"user-b", "2": b"user-a"}[os.environ.get("TPM_PASSKEY_CHOICE", "2")]
    selected = os.environ.get("TPM_PASSKEY_EXPECT_USER_SELECTED") == "1"
    for interaction in (PinOnly(PIN), BuiltInUv()):
        options, state = server.authenticate_begin(None, user_verification=UserVerificationRequirement.REQUIRED)
        selection = client(dev, interaction).get_assertion(options.public_key)
        assertions = selection.get_assertions()
        assert len(assertions) == 1, len(assertions)
        assert bool(assertions[0].user_selected) is selected, (assertions[0], selected)
        assert assertions[0].number_of_credentials is None, assertions[0]
        r = selection.get_response(0)
        assert r.response.user_handle == want, (r.response.user_handle, want)
        server.authenticate_complete(state, [cred_a, cred_b], r)
    _, responses = authenticate(c, server, [cred_a])
    assertions = c.get_assertion(server.authenticate_begin([cred_a], user_verification=UserVerificationRequirement.REQUIRED)[0].public_key).get_assertions()
    assert not assertions[0].user_selected, assertions[0]


def scenario_large_blobs():
    """largeBlobs (CTAP 2.1 §6.10) and largeBlobKey (§12.3): through WebAuthn's largeBlob
    extension (support at registration, write then read at sign-in) and python-fido2's raw
    LargeBlobs API; a write needs a token with lbw once a PIN is set; a torn array is
    refused with INTEGRITY_FAILURE and changes nothing; largeBlobKey needs rk."""
    from fido2.ctap2.blob import LargeBlobs

    dev = device()
    ctap = set_pin(dev)
    info = ctap.get_info()
    assert info.options.get("largeBlobs") is True and "largeBlobKey" in info.extensions, info
    assert info.max_large_blob >= 1024, info.max_large_blob
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    cred, reg = register(c, server, b"user-l", "lb", rk=True, extensions={"largeBlob": {"support": "required"}})
    assert reg.client_extension_results["largeBlob"]["supported"] is True, reg.client_extension_results

    def get(ext):
        options, state = server.authenticate_begin([cred], user_verification=UserVerificationRequirement.REQUIRED)
        o = options.public_key
        o = type(o)(challenge=o.challenge, timeout=o.timeout, rp_id=o.rp_id,
                    allow_credentials=o.allow_credentials, user_verification=o.user_verification,
                    extensions={"largeBlob": ext})
        r = c.get_assertion(o).get_response(0)
        server.authenticate_complete(state, [cred], r)
        return r.client_extension_results["largeBlob"]

    def blob(out):
        # WebAuthn JSON form: base64url without padding.
        return base64.urlsafe_b64decode(out["blob"] + "=" * (-len(out["blob"]) % 4))

    data = b"a certificate, or an SSH key: " + bytes(range(200))
    assert get({"write": data})["written"] is True
    assert blob(get({"read": True})) == data

    # Raw: reading needs nothing; writing needs a token with lbw.
    array = LargeBlobs(ctap).read_blob_array()
    assert len(array) == 1, array
    try:
        LargeBlobs(ctap).write_blob_array([])
        raise AssertionError("a write without a token")
    except CtapError as e:
        assert e.code == CtapError.ERR.PUAT_REQUIRED, e.code
    cp = ClientPin(ctap)
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.LARGE_BLOB_WRITE)
    # A torn array (wrong trailing hash) is refused and the stored one stays.
    bad = b"\x80" + b"\x00" * 16
    msg = b"\xff" * 32 + b"\x0c\x00" + (0).to_bytes(4, "little") + sha256(bad)
    try:
        ctap.large_blobs(0, set=bad, length=len(bad), pin_uv_param=cp.protocol.authenticate(token, msg), pin_uv_protocol=cp.protocol.VERSION)
        raise AssertionError("a torn array was stored")
    except CtapError as e:
        assert e.code == CtapError.ERR.INTEGRITY_FAILURE, e.code
    assert blob(get({"read": True})) == data
    # (The sign-in took its own token: the authenticator keeps one at a time.)
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.LARGE_BLOB_WRITE)
    LargeBlobs(ctap, cp.protocol, token).write_blob_array([])
    assert LargeBlobs(ctap).read_blob_array() == []
    # largeBlobKey for a credential that is not discoverable: INVALID_OPTION (§12.3).
    cp = ClientPin(ctap)
    t = cp.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com")
    cdh = b"\x01" * 32
    try:
        ctap.make_credential(cdh, {"id": "example.com"}, {"id": b"x", "name": "x"},
                             [{"type": "public-key", "alg": -7}], extensions={"largeBlobKey": True},
                             options={"rk": False}, pin_uv_param=cp.protocol.authenticate(t, cdh),
                             pin_uv_protocol=cp.protocol.VERSION)
        raise AssertionError("largeBlobKey without rk")
    except CtapError as e:
        assert e.code == CtapError.ERR.INVALID_OPTION, e.code


def scenario_denied():
    """The agent denies: the client sees the request refused, nothing is stored."""
    dev = device()
    set_pin(dev)
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    try:
        register(c, server, b"user-d", "erin", rk=True)
        raise AssertionError("a denied registration succeeded")
    except ClientError as e:
        assert isinstance(e.cause, CtapError) and e.cause.code == CtapError.ERR.OPERATION_DENIED, e


def scenario_flood():
    """A program floods the user with registration prompts for one site, all denied: after
    4 unapproved prompts in a minute the authenticator refuses further requests for the site
    without a prompt (OPERATION_DENIED, at once); the test around this checks that no
    further prompt reached the agent."""
    dev = device()
    set_pin(dev)
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    for i in range(8):
        try:
            register(c, server, b"user-f%d" % i, "flood", rk=True)
            raise AssertionError("a denied registration succeeded")
        except ClientError as e:
            assert isinstance(e.cause, CtapError) and e.cause.code == CtapError.ERR.OPERATION_DENIED, e
    print("flood: 8 refused")


def scenario_u2f():
    """With alwaysUv turned off (authenticatorConfig), CTAP1/U2F registers and signs;
    python-fido2 checks the attestation certificate and both signatures."""
    dev = device()
    ctap = set_pin(dev)
    cp = ClientPin(ctap)
    assert dev.capabilities & CAPABILITY.NMSG, "no U2F while alwaysUv is on"
    try:
        Ctap1(dev).get_version()
        raise AssertionError("U2F answered under alwaysUv")
    except CtapError as e:
        # CTAPHID_MSG is not a command of a device that sets NMSG.
        assert e.code == CtapError.ERR.INVALID_COMMAND, e.code
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, cp.protocol, token).toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is False
    assert "U2F_V2" in ctap.get_info().versions

    dev = device()  # a new CTAPHID_INIT sees NMSG cleared
    assert not dev.capabilities & CAPABILITY.NMSG
    u2f = Ctap1(dev)
    assert u2f.get_version() == "U2F_V2"
    app, client_param = sha256(b"https://u2f.example.com"), sha256(b"client data")
    reg = u2f.register(client_param, app)
    reg.verify(app, client_param)  # checks the certificate's key signed the registration
    assert len(reg.key_handle) <= 255
    for _ in range(2):
        sig = u2f.authenticate(client_param, app, reg.key_handle)
        sig.verify(app, client_param, reg.public_key)
        assert sig.user_presence & 1
    try:
        u2f.authenticate(client_param, app, reg.key_handle, check_only=True)
        raise AssertionError("check-only signed")
    except ApduError as e:
        assert e.code == APDU.USE_NOT_SATISFIED, hex(e.code)
    try:
        u2f.authenticate(client_param, sha256(b"https://other.example"), reg.key_handle)
        raise AssertionError("a handle for another application signed")
    except ApduError as e:
        assert e.code == APDU.WRONG_DATA, hex(e.code)


def scenario_persist_register():
    """First half of a restart test: set a PIN, register, save what the server keeps."""
    dev = device()
    set_pin(dev)
    server = Fido2Server(RP)
    cred, _ = register(client(dev, PinOnly(PIN)), server, b"user-p", "pat", rk=True)
    with open(os.environ["TPM_PASSKEY_OUT"], "wb") as f:
        f.write(bytes(cred))


def scenario_register_only():
    """Register one discoverable passkey; the PIN was set beforehand (by the CLI)."""
    register(client(device(), PinOnly(PIN)), Fido2Server(RP), b"user-c", "cli", rk=True)


def scenario_persist_authenticate():
    """Second half, after the daemon restarted: the PIN and the credential are still there."""
    from fido2.webauthn import AttestedCredentialData

    with open(os.environ["TPM_PASSKEY_OUT"], "rb") as f:
        cred = AttestedCredentialData(f.read())
    dev = device()
    assert Ctap2(dev).get_info().options["clientPin"] is True
    server = Fido2Server(RP)
    selection, responses = authenticate(client(dev, PinOnly(PIN)), server, [cred], allow=False)
    assert responses[0].response.user_handle == b"user-p"


def scenario_uv_token():
    """A browser's first step of a UV sign-in: a pinUvAuthToken by built-in UV (the agent
    types the PIN), and nothing after it — where sessions are isolated the satisfied policy
    session then waits for the signature (the attacker's moment in issue 20's E1/E2)."""
    ClientPin(Ctap2(device())).get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, "example.com")


def scenario_tpm_unreachable():
    """The TPM is away: getInfo still answers; requests that need the TPM fail at once
    with the vendor status 0xF0 (CTAP2_ERR_VENDOR_FIRST: TPM unreachable), before any
    prompt."""
    import time

    ctap = Ctap2(device())
    assert "FIDO_2_1" in ctap.get_info().versions
    for call in (
        lambda: ctap.get_assertion("example.com", b"\x01" * 32),
        lambda: ctap.make_credential(b"\x01" * 32, {"id": "example.com"}, {"id": b"u", "name": "u"}, [{"type": "public-key", "alg": -7}]),
        lambda: ClientPin(ctap, PinProtocolV2()).get_pin_retries(),
    ):
        t = time.monotonic()
        try:
            call()
            raise AssertionError("expected TPM unreachable")
        except CtapError as e:
            assert int(e.code) == 0xF0, e.code
        assert time.monotonic() - t < 1.0, time.monotonic() - t


def scenario_create_loop():
    """For the crash test: registers discoverable passkeys one after another and prints each
    credential id (hex) as soon as the authenticator has returned it, until the daemon goes
    away (then this fails, as it should)."""
    dev = device()
    c = client(dev, PinOnly(PIN))
    server = Fido2Server(RP)
    print("ready", flush=True)
    i = 0
    while True:
        cred, _ = register(c, server, os.urandom(8), f"crash{i}", rk=True)
        print("created", cred.credential_id.hex(), flush=True)
        i += 1


def scenario_all_sign():
    """Every discoverable passkey signs in (empty allowList) and its signature verifies under
    the public key credential management reports for it; prints how many."""
    from fido2.cose import CoseKey

    dev = device()
    ctap = Ctap2(dev)
    cp = ClientPin(ctap)
    cm = CredentialManagement(ctap, cp.protocol, cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT))
    keys = {}
    for rp in cm.enumerate_rps():
        for c in cm.enumerate_creds(rp[CredentialManagement.RESULT.RP_ID_HASH]):
            cid = c[CredentialManagement.RESULT.CREDENTIAL_ID]
            cid = cid["id"] if isinstance(cid, dict) else cid.id
            keys[bytes(cid)] = CoseKey.parse(c[CredentialManagement.RESULT.PUBLIC_KEY])
    if not keys:
        print("signed 0")
        return
    server = Fido2Server(RP)
    options, _ = server.authenticate_begin(None, user_verification=UserVerificationRequirement.REQUIRED)
    selection = client(dev, PinOnly(PIN)).get_assertion(options.public_key)
    n = len(selection.get_assertions())
    assert n == len(keys), (n, len(keys))
    for i in range(n):
        r = selection.get_response(i)
        a = r.response
        keys[bytes(r.raw_id)].verify(bytes(a.authenticator_data) + a.client_data.hash, a.signature)
    print(f"signed {n}")


def scenario_leak_probe():
    """For the secrets scan: every path a secret takes — set the PIN, tokens of both
    protocols, a wrong PIN, register with PRF, sign in (allowList and discoverable), built-in
    UV (the agent types the PIN), credential management, a PIN change — and writes the
    tokens and PRF outputs it saw (hex, one per line) to TPM_PASSKEY_OUT for the scan."""
    new_pin = os.environ["TPM_PASSKEY_NEW_PIN"]
    wrong = os.environ["TPM_PASSKEY_WRONG_PIN"]
    seen = []
    dev = device()
    ctap = set_pin(dev)
    for proto in (PinProtocolV1(), PinProtocolV2()):
        cp = ClientPin(ctap, proto)
        seen.append(cp.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com"))
        try:
            cp.get_pin_token(wrong)
            raise AssertionError("wrong PIN accepted")
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_INVALID, e.code
    server = Fido2Server(RP)
    c = client(dev, PinOnly(PIN))
    cred, _ = register(c, server, b"user-l", "leak", rk=True, extensions={"prf": {}})
    authenticate(c, server, [cred])
    options, state = server.authenticate_begin([cred], user_verification=UserVerificationRequirement.REQUIRED)
    opts = options.public_key
    opts = type(opts)(challenge=opts.challenge, timeout=opts.timeout, rp_id=opts.rp_id,
                      allow_credentials=opts.allow_credentials, user_verification=opts.user_verification,
                      extensions={"prf": {"eval": {"first": b"\x05" * 32}}})
    first = c.get_assertion(opts).get_response(0).client_extension_results["prf"]["results"]["first"]
    seen.append(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    authenticate(client(dev, BuiltInUv()), server, [cred], allow=False)
    cp = ClientPin(ctap)
    token = cp.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    seen.append(token)
    cm = CredentialManagement(ctap, cp.protocol, token)
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1
    cp.change_pin(PIN, new_pin)
    with open(os.environ["TPM_PASSKEY_OUT"], "w") as f:
        f.write("\n".join(bytes(s).hex() for s in seen))


def scenario_cancel():
    """The client cancels while the prompt waits (no agent answers): CTAPHID_CANCEL ends
    the request with KEEPALIVE_CANCEL, quickly."""
    import threading
    import time

    dev = device()
    Ctap2(dev).get_info()
    event = threading.Event()
    threading.Timer(1.0, event.set).start()
    started = time.monotonic()
    try:
        Ctap2(dev).selection(event=event)
        raise AssertionError("selection succeeded without anyone answering")
    except CtapError as e:
        assert e.code == CtapError.ERR.KEEPALIVE_CANCEL, e.code
    assert time.monotonic() - started < 5, "cancel took too long"


def scenario_timeout():
    """Nobody answers: after the daemon's prompt timeout the request fails with
    USER_ACTION_TIMEOUT."""
    dev = device()
    try:
        Ctap2(dev).selection()
        raise AssertionError("selection succeeded without anyone answering")
    except CtapError as e:
        assert e.code == CtapError.ERR.USER_ACTION_TIMEOUT, e.code


def scenario_wink():
    """CTAPHID_WINK reaches the approval agent."""
    dev = device()
    assert dev.capabilities & CAPABILITY.WINK
    dev.wink()


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print("ok", sys.argv[1])
