//! The engine's [`Approver`]: prompts go to the registered agent through the
//! [`AgentHub`]; while waiting, the HID transport sends STATUS_UPNEEDED keepalives, and a
//! CTAPHID_CANCEL from the client ends the wait.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tpm_passkey_core::wire::ctaphid::keepalive;
use tpm_passkey_core::{Approver, PinHash, Prompt, Refusal};
use tpm_passkey_ipc::PromptView;
use zeroize::Zeroize;

use crate::agent_hub::AgentHub;

/// The keepalive status and cancel flag of the request being processed.
#[derive(Debug, Clone)]
pub struct JobSignals {
    pub status: Arc<AtomicU8>,
    pub cancel: Arc<AtomicBool>,
    /// The requesting application: pid and process name, when known.
    pub client: Option<(u32, String)>,
}

/// The process name of `pid` (/proc/PID/comm), for the prompt.
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

pub fn view(p: &Prompt, client: Option<&(u32, String)>) -> PromptView {
    let operation = serde_json::to_value(p.operation)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    PromptView {
        operation,
        rp_id: p.rp_id.clone(),
        rp_name: p.rp_name.clone(),
        user: p.user.clone(),
        pin_required: p.pin_required,
        pin_retries: p.pin_retries,
        pin_was_wrong: p.pin_was_wrong,
        client_name: client.map(|c| c.1.clone()),
        client_pid: client.map(|c| c.0),
    }
}

impl Approver for HubApprover {
    fn requester(&self) -> Option<String> {
        self.job.as_ref()?.client.as_ref().map(|c| c.1.clone())
    }

    fn ask(&mut self, prompt: &Prompt) -> Result<Option<PinHash>, Refusal> {
        let never = AtomicBool::new(false);
        let (status, cancel) = match &self.job {
            Some(j) => (Some(&j.status), &*j.cancel),
            None => (None, &never),
        };
        if let Some(s) = status {
            s.store(keepalive::UPNEEDED, Ordering::SeqCst);
        }
        let client = self.job.as_ref().and_then(|j| j.client.as_ref());
        let answer = self.hub.ask(view(prompt, client), self.timeout, cancel);
        if let Some(s) = status {
            s.store(keepalive::PROCESSING, Ordering::SeqCst);
        }
        answer.map(|pin| {
            pin.map(|mut p| {
                let h = PinHash::from_pin(&p);
                p.zeroize();
                h
            })
        })
    }
}
