//! webauthn-rs 0.6 registers and authenticates a passkey, with webauthn-authenticator-rs as
//! the client: its CTAP 2.1 stack (PIN protocol, commands, response parsing) talks to the
//! daemon over the socket transport through a small `Token`; the relying-party checks are
//! webauthn-rs's own.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use async_trait::async_trait;
use common::{Agent, Daemon, PIN};
use socket2::{Domain, SockAddr, Socket, Type};
use tpm_passkey_wire::ctaphid::{cmd, fragment, Packet, Reassembly, BROADCAST_CID};
use url::Url;
use webauthn_authenticator_rs::ctap2::CtapAuthenticator;
use webauthn_authenticator_rs::error::{CtapError, WebauthnCError};
use webauthn_authenticator_rs::transport::Token;
use webauthn_authenticator_rs::types::{CableRequestType, CableState, EnrollSampleStatus};
use webauthn_authenticator_rs::ui::UiCallback;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::*;
use webauthn_rs_proto::AuthenticatorTransport;

/// CTAPHID over the SOCK_SEQPACKET socket: one datagram per 64-byte report.
#[derive(Debug)]
struct SocketToken {
    sock: Socket,
    cid: u32,
}

impl SocketToken {
    fn connect(path: &std::path::Path) -> Self {
        let sock = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        sock.connect(&SockAddr::unix(path).unwrap()).unwrap();
        SocketToken {
            sock,
            cid: BROADCAST_CID,
        }
    }

    fn call(&mut self, command: u8, payload: &[u8]) -> (u8, Vec<u8>) {
        for r in fragment(self.cid, command, payload) {
            self.sock.write_all(&r).unwrap();
        }
        let mut msg: Option<Reassembly> = None;
        loop {
            let mut buf = [0u8; 64];
            let n = self.sock.read(&mut buf).unwrap();
            match Packet::parse(&buf[..n]) {
                Some(Packet::Init {
                    cmd: cmd::KEEPALIVE,
                    ..
                }) => continue,
                Some(Packet::Init {
                    cid,
                    cmd: c,
                    len,
                    data,
                }) => msg = Some(Reassembly::start(cid, c, len, data).unwrap()),
                Some(Packet::Cont { seq, data, .. }) => {
                    msg.as_mut().unwrap().push(seq, data).unwrap()
                }
                None => panic!("short report"),
            }
            if msg.as_ref().is_some_and(Reassembly::is_complete) {
                let m = msg.take().unwrap();
                return (m.cmd, m.into_payload());
            }
        }
    }
}

#[async_trait]
impl Token for SocketToken {
    type Id = ();

    fn get_transport(&self) -> AuthenticatorTransport {
        AuthenticatorTransport::Usb
    }

    async fn transmit_raw<U: UiCallback>(
        &mut self,
        cbor: &[u8],
        _ui: &U,
    ) -> Result<Vec<u8>, WebauthnCError> {
        let (c, resp) = self.call(cmd::CBOR, cbor);
        assert_eq!(c, cmd::CBOR, "CTAPHID error {resp:?}");
        match resp.split_first() {
            Some((0, body)) => Ok(body.to_vec()),
            Some((&status, _)) => Err(WebauthnCError::Ctap(CtapError::from(status))),
            None => Err(WebauthnCError::Cbor),
        }
    }

    async fn cancel(&mut self) -> Result<(), WebauthnCError> {
        Ok(())
    }

    async fn init(&mut self) -> Result<(), WebauthnCError> {
        let nonce = [9u8; 8];
        let (c, resp) = self.call(cmd::INIT, &nonce);
        assert_eq!((c, &resp[..8]), (cmd::INIT, &nonce[..]));
        self.cid = u32::from_be_bytes(resp[8..12].try_into().unwrap());
        Ok(())
    }

    async fn close(&mut self) -> Result<(), WebauthnCError> {
        Ok(())
    }
}

/// The user of this test types the PIN when asked.
#[derive(Debug)]
struct User;

impl UiCallback for User {
    fn request_pin(&self) -> Option<String> {
        Some(PIN.to_owned())
    }
    fn request_touch(&self) {}
    fn processing(&self) {}
    fn fingerprint_enrollment_feedback(&self, _: u32, _: Option<EnrollSampleStatus>) {}
    fn cable_qr_code(&self, _: CableRequestType, _: String) {}
    fn dismiss_qr_code(&self) {}
    fn cable_status_update(&self, _: CableState) {}
}

#[test]
fn webauthn_rs_passkey_registration_and_authentication() {
    let d = Daemon::start(Agent::ApproveAll);
    let origin = Url::parse("https://app.example.net").unwrap();
    let webauthn = WebauthnBuilder::new("app.example.net", &origin)
        .unwrap()
        .rp_name("Example App")
        .build()
        .unwrap();
    let ui = User;
    let mut authenticator =
        futures::executor::block_on(CtapAuthenticator::new(SocketToken::connect(&d.hid()), &ui))
            .expect("a CTAP 2.1 token");
    futures::executor::block_on(authenticator.set_new_pin(PIN)).unwrap();

    let user = Uuid::new_v4();
    let (ccr, reg_state) = webauthn
        .start_passkey_registration(user, "grace", "Grace", None)
        .unwrap();
    let reg = authenticator.do_registration(origin.clone(), ccr).unwrap();
    let passkey = webauthn
        .finish_passkey_registration(&reg, &reg_state)
        .unwrap();

    for _ in 0..2 {
        let (rcr, auth_state) = webauthn
            .start_passkey_authentication(std::slice::from_ref(&passkey))
            .unwrap();
        let cred = authenticator
            .do_authentication(origin.clone(), rcr)
            .unwrap();
        let result = webauthn
            .finish_passkey_authentication(&cred, &auth_state)
            .unwrap();
        assert!(result.user_verified());
        assert_eq!(result.cred_id(), passkey.cred_id());
    }

    // A passkey from another relying party does not sign here.
    let other = WebauthnBuilder::new(
        "other.example.net",
        &Url::parse("https://other.example.net").unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let (rcr, _) = other
        .start_passkey_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    assert!(authenticator
        .do_authentication(Url::parse("https://other.example.net").unwrap(), rcr)
        .is_err());
}
