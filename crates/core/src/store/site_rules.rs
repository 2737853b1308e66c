//! Per-site rules the user set in the app: block a site, or always require the PIN for it;
//! and the sites that have had a verified ceremony here (step-up by risk).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use tpm_passkey_ipc::SiteRule;

impl Store {
    pub fn site_rule(&self, rp_id: &str) -> Result<Option<SiteRule>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT rule FROM site_rules WHERE rp_id = ?1")?;
        let mut rows = st.query([rp_id])?;
        match rows.next()? {
            Some(r) => {
                let s: String = r.get(0)?;
                SiteRule::parse(&s)
                    .map(Some)
                    .ok_or(StoreError::Malformed("site rule"))
            }
            None => Ok(None),
        }
    }

    /// All rules, by site.
    pub fn site_rules(&self) -> Result<Vec<(String, SiteRule)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT rp_id, rule FROM site_rules ORDER BY rp_id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (rp, rule) = row?;
            out.push((
                rp,
                SiteRule::parse(&rule).ok_or(StoreError::Malformed("site rule"))?,
            ));
        }
        Ok(out)
    }

    /// Sets (`Some`) or removes (`None`) the rule for `rp_id`.
    pub(super) fn set_site_rule(
        &self,
        rp_id: &str,
        rule: Option<SiteRule>,
    ) -> Result<(), StoreError> {
        match rule {
            Some(r) => self.conn.execute(
                "INSERT INTO site_rules (rp_id, rule) VALUES (?1, ?2)
                 ON CONFLICT (rp_id) DO UPDATE SET rule = excluded.rule",
                params![rp_id, r.as_str()],
            )?,
            None => self
                .conn
                .execute("DELETE FROM site_rules WHERE rp_id = ?1", [rp_id])?,
        };
        Ok(())
    }
}

impl Store {
    /// Whether `rp_id` has had a ceremony with user verification here (step-up by risk).
    pub fn site_known(&self, rp_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM known_sites WHERE rp_id = ?1",
                [rp_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records that `rp_id` had a verified ceremony (the first time only).
    pub fn mark_site_known(&self, rp_id: &str, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO known_sites (rp_id, since) VALUES (?1, ?2)",
            params![rp_id, now],
        )?;
        Ok(())
    }
}
