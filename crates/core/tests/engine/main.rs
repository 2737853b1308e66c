//! Engine tests over the software key store: every command and the error paths the spec
//! names. Requests are built with ciborium, the platform side of the PIN protocol is
//! written independently in harness.rs, and signatures are checked with p256.
#![allow(clippy::unwrap_used)]

mod anchors;
mod attestation;
mod ceremonies;
mod checkpoints;
mod cred_mgmt_and_config;
mod fatigue;
mod harness;
mod info_and_pin;
mod large_blobs;
mod local;
mod robustness;
mod seal;
mod step_up;
mod u2f;
