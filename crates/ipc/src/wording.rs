//! What a prompt says, in plain words — one text for every approval surface (the app's
//! window and the terminal agent), so that the user reads the same request wherever it is
//! shown.

use crate::{AgentNotice, AgentNoticeKind, Operation, Prompt};

/// A prompt's words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wording {
    /// One line: what is asked ("Sign in to github.com as alice").
    pub title: String,
    /// What approving does.
    pub detail: String,
    /// Who asks ("Requested by firefox (process 4242)").
    pub requested_by: String,
    /// About the PIN, when the prompt takes one: tries left, or that the last was wrong.
    pub pin_note: Option<String>,
    /// The approve button's label.
    pub approve: String,
}

impl AgentNotice {
    /// What the agent that is told shows: which program tried to take its place and what
    /// came of it. `this` names the agent told ("this app"), for when it was replaced.
    pub fn wording(&self, this: &str) -> String {
        let who = self.by.name.as_deref().unwrap_or("a program");
        let pid = self.by.pid.map_or("?".into(), |p| p.to_string());
        match self.notice {
            AgentNoticeKind::Contested => {
                format!("{who} (pid {pid}) tried to take over approvals and was refused.")
            }
            AgentNoticeKind::Replaced => format!(
                "{who} (pid {pid}) proved the PIN and now approves requests instead of {this}."
            ),
        }
    }
}

impl Prompt {
    /// The words for this prompt.
    pub fn wording(&self) -> Wording {
        let (title, detail) = self.describe();
        Wording {
            title,
            detail,
            requested_by: self.requested_by(),
            pin_note: self.pin_note(),
            approve: if self.operation == Operation::Reset {
                "Erase everything".into()
            } else {
                "Approve".into()
            },
        }
    }

    fn describe(&self) -> (String, String) {
        let rp = self.rp_id.as_deref().unwrap_or("a website");
        let site = match (&self.rp_name, &self.rp_id) {
            (Some(name), Some(id)) if name != id => format!("{name} ({id})"),
            (_, Some(id)) => id.clone(),
            _ => "a website".into(),
        };
        let as_user = self
            .user
            .as_ref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default();
        // A token without an rpId works for whichever site uses it first: say so.
        if self.any_site {
            let what = match self.operation {
                Operation::Register => "create a passkey",
                Operation::SignIn => "sign in",
                _ => "use your passkeys",
            };
            return (
                format!("Allow {what} for any site"),
                format!("The requesting application did not name a site: approving lets it {what} once, for any site it chooses."),
            );
        }
        // pam_u2f's relying party: a login or sudo on this computer (pam_cmd in the daemon).
        if let (Some(host), Operation::SignIn) = (
            self.rp_id.as_deref().and_then(|r| r.strip_prefix("pam://")),
            self.operation,
        ) {
            let who = self.user.as_deref().unwrap_or("you");
            return (
                format!("Log in or sudo on {host} as {who}"),
                "A login or sudo on this computer asks for your passkey (pam_u2f). Approve only if you just started one.".into(),
            );
        }
        match self.operation {
            Operation::Register => (
                format!("Create a passkey for {rp}"),
                format!("A new passkey for {site}{as_user}, kept in this computer's TPM."),
            ),
            Operation::SignIn if self.accounts.len() > 1 => (
                format!("Sign in to {rp}"),
                format!(
                    "Choose the account to use your passkey for {site} ({} accounts).",
                    self.accounts.len()
                ),
            ),
            Operation::SignIn => (
                format!("Sign in to {rp}{as_user}"),
                format!("Use your passkey for {site}."),
            ),
            Operation::AlreadyRegistered => (
                format!("{rp} checks for an existing passkey"),
                "You already have a passkey for this site. Approving only confirms it; nothing is created.".into(),
            ),
            Operation::Reset => (
                "Erase all passkeys".into(),
                format!(
                    "Every passkey and the PIN will be gone for good. Sites will no longer accept these passkeys.{}",
                    if self.pin_required { " Type your PIN to confirm." } else { "" }
                ),
            ),
            Operation::Select => (
                "Use this authenticator?".into(),
                "An application asks you to choose tpm-passkey among your security keys.".into(),
            ),
            Operation::Verify => (
                "Confirm it's you".into(),
                if self.rp_id.is_some() {
                    format!("Enter your PIN to continue with {site}.")
                } else {
                    "Enter your PIN to unlock passkey management.".into()
                },
            ),
            Operation::U2fRegister => (
                format!("Register a security key for {rp}"),
                "A legacy (U2F) registration.".into(),
            ),
            Operation::U2fSignIn => (
                format!("Sign in to {rp}"),
                "A legacy (U2F) sign-in with your security key.".into(),
            ),
        }
    }

    fn requested_by(&self) -> String {
        match (&self.client_name, self.client_pid) {
            (Some(name), Some(pid)) => format!("Requested by {name} (process {pid})"),
            (Some(name), None) => format!("Requested by {name}"),
            _ => "Requested by an application that could not be identified".into(),
        }
    }

    fn pin_note(&self) -> Option<String> {
        if !self.pin_required {
            return None;
        }
        let plural = |n: u8| if n == 1 { "" } else { "s" };
        Some(match self.pin_retries {
            Some(0) => {
                "Your PIN is blocked: only a reset makes this authenticator usable again.".into()
            }
            Some(n) if self.pin_was_wrong => {
                format!(
                    "Wrong PIN. {n} attempt{} left before the TPM blocks it.",
                    plural(n)
                )
            }
            None if self.pin_was_wrong => "Wrong PIN.".into(),
            Some(n) => format!("{n} attempt{} left.", plural(n)),
            None => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_notice_names_the_program_and_what_came_of_it() {
        let mut n = AgentNotice {
            notice: AgentNoticeKind::Contested,
            by: crate::AgentView {
                kind: crate::AgentKind::App,
                name: Some("evil".into()),
                pid: Some(666),
            },
        };
        assert_eq!(
            n.wording("this app"),
            "evil (pid 666) tried to take over approvals and was refused."
        );
        n.notice = AgentNoticeKind::Replaced;
        n.by.name = None;
        n.by.pid = None;
        assert_eq!(
            n.wording("this window"),
            "a program (pid ?) proved the PIN and now approves requests instead of this window."
        );
    }

    #[test]
    fn every_operation_has_words_and_the_any_site_case_names_no_site() {
        let mut p = Prompt::new(Operation::SignIn).rp("github.com", Some("GitHub"));
        p.user = Some("alice (Alice)".into());
        p.client_name = Some("firefox".into());
        p.client_pid = Some(4242);
        let w = p.wording();
        assert_eq!(w.title, "Sign in to github.com as alice (Alice)");
        assert_eq!(w.detail, "Use your passkey for GitHub (github.com).");
        assert_eq!(w.requested_by, "Requested by firefox (process 4242)");
        assert_eq!(w.pin_note, None);
        p.any_site = true;
        assert!(!p.wording().title.contains("github"), "{:?}", p.wording());
        p.any_site = false;
        p.pin_required = true;
        p.pin_retries = Some(1);
        p.pin_was_wrong = true;
        assert_eq!(
            p.wording().pin_note.as_deref(),
            Some("Wrong PIN. 1 attempt left before the TPM blocks it.")
        );
        for op in [
            Operation::Register,
            Operation::AlreadyRegistered,
            Operation::Reset,
            Operation::Select,
            Operation::Verify,
            Operation::U2fRegister,
            Operation::U2fSignIn,
        ] {
            let w = Prompt::new(op).wording();
            assert!(!w.title.is_empty() && !w.detail.is_empty(), "{op:?}");
        }
        assert_eq!(
            Prompt::new(Operation::Reset).wording().approve,
            "Erase everything"
        );
    }
}
