//! The prompt window's state, apart from GTK so that it can be tested without a display:
//! the requests waiting, oldest first, the one on screen, and the rules an answer must meet
//! before it goes to the daemon (the same as the app's, `agent.rs`: a PIN when the prompt
//! needs one, an account when it lists several).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tpm_passkey_ipc::{ClientMessage, Pin, Prompt, Wording};

/// One request as the window shows it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: u64,
    pub prompt: Prompt,
    /// The words, from the daemon's vocabulary: the same the app and the terminal show.
    pub wording: Wording,
    pub deadline: Instant,
    /// How long it had when it arrived (the countdown bar's full width).
    pub total: Duration,
    /// When the request raised it and when the daemon sent it (Unix ms): the window logs
    /// how long after these its first frame was painted.
    pub asked_unix_ms: u64,
    pub sent_unix_ms: u64,
}

/// Why an answer was not sent: the window says so and lets the person try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotYet {
    /// The prompt needs the PIN and none was typed.
    NeedPin,
    /// The prompt lists several accounts and none (or one not listed) was chosen.
    NeedAccount,
}

impl NotYet {
    pub fn message(self) -> &'static str {
        match self {
            NotYet::NeedPin => "Type your PIN to approve.",
            NotYet::NeedAccount => "Choose the account to sign in with.",
        }
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Queue {
    current: Option<Waiting>,
    later: VecDeque<Waiting>,
}

impl Queue {
    /// The request on screen.
    pub fn current(&self) -> Option<&Waiting> {
        self.current.as_ref()
    }

    /// How many wait behind the one on screen.
    pub fn behind(&self) -> usize {
        self.later.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_none()
    }

    /// Adds a request (a repeat of one already here is ignored). True when it is now the
    /// one on screen.
    pub fn add(&mut self, w: Waiting) -> bool {
        let id = w.id;
        if self.current.as_ref().is_some_and(|c| c.id == id)
            || self.later.iter().any(|l| l.id == id)
        {
            return false;
        }
        if self.current.is_none() {
            self.current = Some(w);
            true
        } else {
            self.later.push_back(w);
            false
        }
    }

    /// Forgets request `id` (the daemon closed it, or it was answered). True when it was
    /// the one on screen, which is then the next in line (if any).
    pub fn drop_id(&mut self, id: u64) -> bool {
        if self.current.as_ref().is_some_and(|c| c.id == id) {
            self.current = self.later.pop_front();
            return true;
        }
        self.later.retain(|l| l.id != id);
        false
    }

    /// The answer to the request on screen, checked; `pin` is taken (and zeroizes itself
    /// wherever it ends). On success the request leaves the queue.
    pub fn answer(
        &mut self,
        approve: bool,
        pin: Option<Pin>,
        choice: Option<u32>,
    ) -> Result<Option<ClientMessage>, NotYet> {
        let Some(current) = &self.current else {
            return Ok(None);
        };
        let msg = if approve {
            let accounts = current.prompt.accounts.len();
            let pin = pin.filter(|p| !p.is_empty());
            if current.prompt.pin_required && pin.is_none() {
                return Err(NotYet::NeedPin);
            }
            if accounts > 1 && choice.is_none_or(|c| c as usize >= accounts) {
                return Err(NotYet::NeedAccount);
            }
            ClientMessage::Answer {
                id: current.id,
                approve: true,
                pin: if current.prompt.pin_required {
                    pin
                } else {
                    None
                },
                choice: if accounts > 1 { choice } else { None },
            }
        } else {
            ClientMessage::Answer {
                id: current.id,
                approve: false,
                pin: None,
                choice: None,
            }
        };
        let id = current.id;
        self.drop_id(id);
        Ok(Some(msg))
    }

    /// Denials for every request here (the window was closed), oldest first; the queue is
    /// empty afterwards.
    pub fn deny_all(&mut self) -> Vec<ClientMessage> {
        let all = self.current.take().into_iter().chain(self.later.drain(..));
        all.map(|w| ClientMessage::Answer {
            id: w.id,
            approve: false,
            pin: None,
            choice: None,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tpm_passkey_ipc::Operation;

    fn waiting(id: u64, pin_required: bool, accounts: &[&str]) -> Waiting {
        let mut prompt = Prompt::new(Operation::SignIn);
        prompt.rp_id = Some("example.com".into());
        prompt.pin_required = pin_required;
        prompt.accounts = accounts.iter().map(|a| a.to_string()).collect();
        Waiting {
            id,
            wording: prompt.wording(),
            prompt,
            deadline: Instant::now() + Duration::from_secs(30),
            total: Duration::from_secs(30),
            asked_unix_ms: 0,
            sent_unix_ms: 0,
        }
    }

    fn answered(msg: Option<ClientMessage>) -> (u64, bool, Option<String>, Option<u32>) {
        match msg.unwrap() {
            ClientMessage::Answer {
                id,
                approve,
                pin,
                choice,
            } => (
                id,
                approve,
                pin.map(|p| p.expose_secret().to_owned()),
                choice,
            ),
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn requests_are_shown_one_at_a_time_oldest_first_and_a_repeat_is_ignored() {
        let mut q = Queue::default();
        assert!(q.add(waiting(1, false, &[])));
        assert!(!q.add(waiting(2, false, &[])));
        assert!(
            !q.add(waiting(1, false, &[])),
            "a repeat of the one on screen"
        );
        assert!(!q.add(waiting(2, false, &[])), "a repeat of one waiting");
        assert_eq!(q.behind(), 1);
        assert_eq!(answered(q.answer(true, None, None).unwrap()).0, 1);
        assert_eq!(q.current().unwrap().id, 2);
        assert_eq!(q.behind(), 0);
    }

    #[test]
    fn a_closed_request_leaves_wherever_it_is() {
        let mut q = Queue::default();
        q.add(waiting(1, false, &[]));
        q.add(waiting(2, false, &[]));
        q.add(waiting(3, false, &[]));
        assert!(!q.drop_id(2), "not on screen");
        assert!(q.drop_id(1), "on screen: the next comes up");
        assert_eq!(q.current().unwrap().id, 3);
        assert!(q.drop_id(3));
        assert!(q.is_empty());
        assert!(!q.drop_id(9), "unknown ids change nothing");
    }

    /// Approving never goes out without the PIN the prompt needs, nor without an account
    /// when it lists several; the request stays on screen for another try.
    #[test]
    fn an_approval_needs_the_pin_and_the_account_the_prompt_asks_for() {
        let mut q = Queue::default();
        q.add(waiting(1, true, &["alice", "bob"]));
        assert_eq!(q.answer(true, None, Some(0)), Err(NotYet::NeedPin));
        assert_eq!(
            q.answer(true, Some(Pin::new(String::new())), Some(0)),
            Err(NotYet::NeedPin),
            "an empty PIN is no PIN"
        );
        assert_eq!(
            q.answer(true, Some(Pin::new("1234".into())), None),
            Err(NotYet::NeedAccount)
        );
        assert_eq!(
            q.answer(true, Some(Pin::new("1234".into())), Some(2)),
            Err(NotYet::NeedAccount),
            "an account not listed"
        );
        assert_eq!(q.current().unwrap().id, 1, "still on screen");
        let (id, approve, pin, choice) = answered(
            q.answer(true, Some(Pin::new("1234".into())), Some(1))
                .unwrap(),
        );
        assert_eq!(
            (id, approve, pin.as_deref(), choice),
            (1, true, Some("1234"), Some(1))
        );
        assert!(q.is_empty());
    }

    /// A denial carries nothing (no PIN typed by then goes to the daemon), and a PIN is sent
    /// only to a prompt that asked for one.
    #[test]
    fn a_denial_carries_no_pin_and_an_unasked_pin_is_not_sent() {
        let mut q = Queue::default();
        q.add(waiting(1, true, &[]));
        q.add(waiting(2, false, &[]));
        let (_, approve, pin, _) = answered(
            q.answer(false, Some(Pin::new("1234".into())), None)
                .unwrap(),
        );
        assert!(!approve);
        assert_eq!(pin, None);
        let (id, approve, pin, choice) = answered(
            q.answer(true, Some(Pin::new("1234".into())), Some(0))
                .unwrap(),
        );
        assert_eq!((id, approve, pin, choice), (2, true, None, None));
    }

    #[test]
    fn closing_the_window_denies_everything_waiting() {
        let mut q = Queue::default();
        for id in 1..=3 {
            q.add(waiting(id, true, &[]));
        }
        let ids: Vec<u64> = q
            .deny_all()
            .into_iter()
            .map(|m| answered(Some(m)).0)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(q.is_empty());
        assert_eq!(
            q.answer(true, None, None),
            Ok(None),
            "nothing left to answer"
        );
    }
}
