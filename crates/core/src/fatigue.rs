//! Approval-fatigue defence (prompt bombing): a program that fires prompt after prompt
//! hopes the person approves one to make them stop. After too many prompts for one site that
//! were not approved within a window, or too many denials in a row, further prompts are
//! refused without being shown for a cool-down; the person is told once, and the log says
//! why.
//!
//! Approved prompts do not count: a person signing in ten times in a minute is not being
//! bombed, and an attacker's prompts are the ones that are denied, time out or are
//! withdrawn.

pub use tpm_passkey_ipc::FatigueLimits;

/// How a prompt ended, as far as fatigue is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Approved,
    Denied,
    /// Timed out or withdrawn by the client.
    Unanswered,
}

/// A cool-down: prompts for `site` (None: every site) are refused until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cooldown {
    pub site: Option<String>,
    pub until: u64,
    /// Why, for the log and the notice.
    pub reason: String,
}

/// The defence's memory (not persisted: a restart forgets it, as it forgets the PIN's
/// per-boot pause).
#[derive(Debug, Default)]
pub struct Fatigue {
    /// (site, time) of recent prompts that were not approved.
    unapproved: Vec<(String, u64)>,
    denials_in_a_row: u32,
    cooling: Vec<Cooldown>,
}

/// The key under which prompts without a site (select, reset) are counted.
fn site_key(site: Option<&str>) -> String {
    site.unwrap_or("").to_owned()
}

impl Fatigue {
    /// The cool-down that refuses a prompt for `site` now, if any.
    pub fn refusing(
        &mut self,
        site: Option<&str>,
        now: u64,
        limits: &FatigueLimits,
    ) -> Option<&Cooldown> {
        self.cooling.retain(|c| c.until > now);
        if !limits.enabled {
            return None;
        }
        let key = site_key(site);
        self.cooling
            .iter()
            .find(|c| c.site.is_none() || c.site.as_deref() == Some(key.as_str()))
    }

    /// Records how a prompt for `site` ended; returns the cool-down it starts, if any.
    pub fn record(
        &mut self,
        site: Option<&str>,
        answered: Answered,
        now: u64,
        limits: &FatigueLimits,
    ) -> Option<Cooldown> {
        let key = site_key(site);
        self.unapproved
            .retain(|(_, t)| now.saturating_sub(*t) < limits.window_secs);
        match answered {
            Answered::Approved => {
                self.denials_in_a_row = 0;
                return None;
            }
            Answered::Denied => self.denials_in_a_row += 1,
            Answered::Unanswered => {}
        }
        self.unapproved.push((key.clone(), now));
        if !limits.enabled {
            return None;
        }
        let until = now + limits.cooldown_secs;
        let cooldown = if limits.denials_in_a_row > 0
            && self.denials_in_a_row >= limits.denials_in_a_row
        {
            self.denials_in_a_row = 0;
            Cooldown {
                site: None,
                until,
                reason: format!(
                    "{} denials in a row: every prompt is refused for {} s",
                    limits.denials_in_a_row, limits.cooldown_secs
                ),
            }
        } else {
            let n = self.unapproved.iter().filter(|(s, _)| *s == key).count();
            if limits.unapproved_per_site == 0 || n < limits.unapproved_per_site as usize {
                return None;
            }
            self.unapproved.retain(|(s, _)| *s != key);
            Cooldown {
                site: Some(key),
                until,
                reason: format!(
                    "{n} prompts not approved within {} s: this site's prompts are refused for {} s",
                    limits.window_secs, limits.cooldown_secs
                ),
            }
        };
        self.cooling.push(cooldown.clone());
        Some(cooldown)
    }

    /// Whether `new` limits are at least as strict as `old` in every respect (0 counts as
    /// "no limit"): only then may they be set without the PIN.
    pub fn stricter_or_equal(new: &FatigueLimits, old: &FatigueLimits) -> bool {
        let limit = |n: u32| if n == 0 { u32::MAX } else { n };
        (new.enabled || !old.enabled)
            && limit(new.unapproved_per_site) <= limit(old.unapproved_per_site)
            && new.window_secs >= old.window_secs
            && limit(new.denials_in_a_row) <= limit(old.denials_in_a_row)
            && new.cooldown_secs >= old.cooldown_secs
    }

    /// Ends every cool-down (the person lifted it in the app or the CLI).
    pub fn clear(&mut self) {
        self.cooling.clear();
        self.unapproved.clear();
        self.denials_in_a_row = 0;
    }

    /// The cool-downs in force at `now`.
    pub fn active(&mut self, now: u64) -> Vec<Cooldown> {
        self.cooling.retain(|c| c.until > now);
        self.cooling.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unapproved_prompts_for_one_site_start_a_cooldown_for_that_site_only() {
        let l = FatigueLimits::default();
        let mut f = Fatigue::default();
        for t in 0..3 {
            assert_eq!(
                f.record(Some("a.example"), Answered::Unanswered, t, &l),
                None
            );
        }
        let c = f
            .record(Some("a.example"), Answered::Unanswered, 3, &l)
            .unwrap();
        assert_eq!(c.site.as_deref(), Some("a.example"));
        assert_eq!(c.until, 303);
        assert!(f.refusing(Some("a.example"), 10, &l).is_some());
        assert!(f.refusing(Some("b.example"), 10, &l).is_none());
        assert!(
            f.refusing(Some("a.example"), 303, &l).is_none(),
            "over after the cool-down"
        );
    }

    #[test]
    fn approvals_do_not_count_and_old_prompts_leave_the_window() {
        let l = FatigueLimits::default();
        let mut f = Fatigue::default();
        for t in 0..20 {
            assert_eq!(f.record(Some("a.example"), Answered::Approved, t, &l), None);
        }
        for t in [0, 100, 200, 300, 400] {
            assert_eq!(
                f.record(Some("a.example"), Answered::Unanswered, t, &l),
                None
            );
        }
    }

    #[test]
    fn denials_in_a_row_cool_every_site_and_an_approval_resets_them() {
        let l = FatigueLimits::default();
        let mut f = Fatigue::default();
        let sites = ["a", "b", "c", "d"];
        for (t, s) in sites.iter().enumerate() {
            assert_eq!(
                f.record(Some(s), Answered::Denied, t as u64 * 100, &l),
                None
            );
        }
        f.record(Some("e"), Answered::Approved, 500, &l);
        for (t, s) in sites.iter().enumerate() {
            assert_eq!(
                f.record(Some(s), Answered::Denied, 600 + t as u64 * 100, &l),
                None
            );
        }
        let c = f.record(Some("z"), Answered::Denied, 1000, &l).unwrap();
        assert_eq!(c.site, None);
        assert!(f.refusing(Some("anything"), 1001, &l).is_some());
        assert!(f.refusing(None, 1001, &l).is_some());
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let l = FatigueLimits {
            enabled: false,
            ..FatigueLimits::default()
        };
        let mut f = Fatigue::default();
        for t in 0..50 {
            assert_eq!(f.record(Some("a"), Answered::Denied, t, &l), None);
        }
        assert!(f.refusing(Some("a"), 50, &l).is_none());
    }
}
