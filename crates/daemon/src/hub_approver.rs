//! The engine's [`Approver`]: prompts go to the registered agent through the
//! [`AgentHub`]; while waiting, the HID transport sends STATUS_UPNEEDED keepalives, and a
//! CTAPHID_CANCEL from the client ends the wait.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tpm_passkey_core::wire::ctaphid::keepalive;
use tpm_passkey_core::{Approval, Approver, PinHash, Prompt, Refusal};

use crate::agent_hub::AgentHub;

/// The keepalive status and cancel flag of the request being processed.
#[derive(Debug, Clone)]
pub struct JobSignals {
    pub status: Arc<AtomicU8>,
    pub cancel: Arc<AtomicBool>,
    /// The requesting application: pid and process name, when known.
    pub client: Option<(u32, String)>,
}

/// The process name of `pid` (/proc/PID/comm), for prompts and the audit log.
pub fn process_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_owned()).filter(|c| !c.is_empty())
}

#[derive(Debug)]
pub struct HubApprover {
    pub hub: Arc<AgentHub>,
    pub timeout: Duration,
    pub job: Option<JobSignals>,
}

impl HubApprover {
    /// Names this daemon, as `name`, the asking application of the prompts that follow (the
    /// pam enrolment, the test sign-in), keeping the request's cancel flag: a caller that
    /// gives up still ends them.
    pub fn asking_as(&mut self, name: &str) {
        let job = self.job.get_or_insert_with(|| JobSignals {
            status: Default::default(),
            cancel: Default::default(),
            client: None,
        });
        job.client = Some((std::process::id(), name.into()));
    }
}

impl Approver for HubApprover {
    fn requester(&self) -> Option<String> {
        self.job.as_ref()?.client.as_ref().map(|c| c.1.clone())
    }

    fn ask(&mut self, prompt: &Prompt) -> Result<Option<PinHash>, Refusal> {
        self.ask_choosing(prompt).map(|a| a.pin)
    }

    fn notify(&mut self, text: &str) {
        tracing::warn!(notice = text, "told the approval agent");
        self.hub.notify(text);
    }

    fn ask_choosing(&mut self, prompt: &Prompt) -> Result<Approval, Refusal> {
        let never = AtomicBool::new(false);
        let (status, cancel) = match &self.job {
            Some(j) => (Some(&j.status), &*j.cancel),
            None => (None, &never),
        };
        if let Some(s) = status {
            s.store(keepalive::UPNEEDED, Ordering::SeqCst);
        }
        let mut shown = prompt.clone();
        if let Some((pid, name)) = self.job.as_ref().and_then(|j| j.client.as_ref()) {
            shown.client_pid = Some(*pid);
            shown.client_name = Some(name.clone());
        }
        let answer = self.hub.ask(shown, self.timeout, cancel);
        if let Some(s) = status {
            s.store(keepalive::PROCESSING, Ordering::SeqCst);
        }
        // The typed PIN becomes its hash at once; the Pin zeroizes itself when dropped.
        answer.map(|(pin, choice)| Approval {
            pin: pin.map(|p| PinHash::from_pin(p.expose_secret())),
            choice: choice.and_then(|c| usize::try_from(c).ok()),
        })
    }
}
