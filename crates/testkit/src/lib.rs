//! Test seams for tpm-passkey, for tests and fuzzing only (a dev-dependency; the product
//! never links it):
//!
//! * [`SoftKeys`]: a software [`KeyStore`](tpm_passkey_core::KeyStore) with the TPM's PIN
//!   semantics, for fast engine tests;
//! * [`Script`]: an [`Approver`](tpm_passkey_core::Approver) that answers from a script and
//!   records every prompt;
//! * [`ManualClock`]: a [`Clock`](tpm_passkey_core::Clock) the test moves forward;
//! * [`recompute_audit_chain`]: the same-user attacker who rewrites the audit log;
//! * [`iterations_arg`]: the benches' `--iterations N`.
#![forbid(unsafe_code)]

mod soft;
mod store_attack;

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use tpm_passkey_core::{Approver, Clock, PinHash, Prompt, Refusal};

pub use soft::{soft_attestation_key, SoftKeys, PIN_LIMIT};
pub use store_attack::recompute_audit_chain;

/// Answers prompts from a script; with an empty script it approves, typing `pin` when one
/// is asked for. Every prompt is recorded.
#[derive(Debug, Default)]
pub struct Script {
    pub answers: VecDeque<Result<Option<String>, Refusal>>,
    pub pin: Option<String>,
    pub seen: Vec<Prompt>,
    /// What the engine told the person ([`Approver::notify`]).
    pub notices: Vec<String>,
    /// The requesting process's name, as a transport would give it ([`Approver::requester`]).
    pub requester: Option<String>,
}

impl Approver for Script {
    fn ask(&mut self, prompt: &Prompt) -> Result<Option<PinHash>, Refusal> {
        self.seen.push(prompt.clone());
        let answer = match self.answers.pop_front() {
            Some(a) => a,
            None => Ok(if prompt.pin_required {
                self.pin.clone()
            } else {
                None
            }),
        };
        answer.map(|p| p.map(|p| PinHash::from_pin(&p)))
    }

    fn notify(&mut self, text: &str) {
        self.notices.push(text.to_owned());
    }

    fn requester(&self) -> Option<String> {
        self.requester.clone()
    }
}

/// A clock that moves only when the test says so. Clones share the same time, so a test
/// keeps one and hands the other to the engine.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Rc<Cell<Duration>>,
    unix: Rc<Cell<i64>>,
}

impl ManualClock {
    pub fn new() -> Self {
        let c = Self::default();
        c.unix.set(1_800_000_000);
        c
    }

    /// Moves time forward (monotonic and wall clock alike).
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
        self.unix.set(self.unix.get() + by.as_secs() as i64);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.now.get()
    }

    fn unix_secs(&self) -> i64 {
        self.unix.get()
    }
}

/// The benches' `-- --iterations N` (how many timed runs each figure takes the median of),
/// or `default`.
pub fn iterations_arg(default: usize) -> usize {
    let mut n = default;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iterations" {
            n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--iterations N");
        }
    }
    n
}
