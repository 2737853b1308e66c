//! The credential store: one SQLite file in the data directory, written in transactions
//! (WAL, synchronous=FULL), schema versioned by `PRAGMA user_version` with ordered
//! migrations. It holds discoverable credentials, settings, the key store's state and the
//! per-install secret that binds credential IDs, and the audit log.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::secret::SecretBytes;

mod audit_log;
mod checkpoints;
mod credentials;
mod migrations;
mod seal;
mod sealed;
mod site_rules;

pub use checkpoints::Checkpoint;
pub use credentials::Credential;
pub use seal::seal_message;
pub use sealed::{SealWith, SealedWrite};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("credential store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("credential store was written by a newer tpm-passkey (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("credential store: stored value is malformed: {0}")]
    Malformed(&'static str),
    /// The store is older than the key store's counter: restored or rolled back.
    #[error("the credential store is older than this TPM's rollback counter says (store at {store}, TPM at {tpm}): it was restored from a backup or rolled back, and passkeys deleted since may be back in it, so tpm-passkey will not use it. If you restored it on purpose, start once with --accept-restored-store; otherwise move store.sqlite aside to start empty (docs/RECOVERY.md)")]
    RolledBack { store: u64, tpm: u64 },
    /// The seal does not verify: edited, or from another install.
    #[error("the credential store's seal does not verify ({0}): it was edited, or it belongs to another computer or install, so tpm-passkey will not use it. If you changed it yourself on purpose, start once with --accept-restored-store; otherwise move store.sqlite aside to start empty (docs/RECOVERY.md)")]
    SealBroken(&'static str),
    /// The store's protection statement is older than the TPM's PIN epoch: an older copy
    /// of the store was put back and resealed (issue 21, F2).
    #[error("the credential store is older than the last change made with the PIN (its statement is at {store}, the TPM's PIN epoch at {tpm}): it was put back from a copy and resealed, so a passkey deleted or a protection loosened with the PIN may be back, and tpm-passkey will not use it. If you restored it on purpose, start once with --accept-restored-store --pin-file FILE (accepting it needs the PIN); otherwise move store.sqlite aside to start empty (docs/RECOVERY.md)")]
    PinChangesRolledBack { store: u64, tpm: u64 },
    /// The store is looser than its protection statement: changed without the PIN and
    /// resealed (issue 21, F4). Names what changed.
    #[error("protections were changed in the credential store without the PIN: {0}. tpm-passkey will not use it. If you made these changes yourself, start once with --accept-restored-store --pin-file FILE (accepting them needs the PIN); otherwise move store.sqlite aside to start empty (docs/RECOVERY.md)")]
    Loosened(String),
    /// The key store could not compute or advance the seal.
    #[error("the key store could not seal the credential store: {0}")]
    SealKey(String),
    /// The TPM did not answer (or lost this connection's state) while the seal was
    /// checked: nothing is known about the store — never reported as tampered.
    #[error(
        "the TPM cannot be reached right now, so the credential store's seal could not be checked"
    )]
    TpmUnreachable,
}

/// The open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Transactions committed on this connection (each an fsync of the WAL): counted so
    /// that a test can hold a request to its number of commits.
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::init(conn)
    }

    /// A store that lives only in memory (unit tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn)?;
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = commits.clone();
        conn.commit_hook(Some(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false // false: let the commit proceed
        }));
        Ok(Store { conn, commits })
    }

    /// A named secret (key-store state, install secret).
    pub fn secret(&self, name: &str) -> Result<Option<SecretBytes>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .map(SecretBytes::new))
    }

    fn set_secret(&self, name: &str, value: &SecretBytes) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, value.expose_secret_bytes()],
        )?;
        Ok(())
    }

    /// A setting's JSON text, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a setting the seal leaves out (the global sign counter, which moves on every
    /// sign-in); any other key is refused — sealed settings change through
    /// [`Store::write_sealed`].
    pub fn set_unsealed_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        if !crate::seal::UNSEALED_SETTINGS.contains(&key) {
            return Err(StoreError::Malformed(
                "a sealed setting written outside a sealed change",
            ));
        }
        self.set_setting(key, value)
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Transactions committed so far on this connection.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts gathering the writes that follow into one commit, unless a transaction is
    /// open already; true when this call started it ([`Store::commit_gathered`] then ends it).
    /// With synchronous=FULL every commit is an fsync of the WAL (~0.3 ms here): a sign-in's
    /// sign count and audit entry land in one (docs/PERFORMANCE.md).
    pub fn gather_writes(&self) -> Result<bool, StoreError> {
        if !self.conn.is_autocommit() {
            return Ok(false);
        }
        self.conn.execute_batch("BEGIN")?;
        Ok(true)
    }

    /// Commits what [`Store::gather_writes`] gathered; on failure nothing of it was written
    /// (rolled back), and the caller must not answer as if it had been.
    pub fn commit_gathered(&self) -> Result<(), StoreError> {
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    /// Runs `f` as one unit (a SAVEPOINT, so units nest): all of its writes land, or none do.
    fn atomically<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("SAVEPOINT unit")?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("RELEASE unit")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK TO unit; RELEASE unit");
                Err(e)
            }
        }
    }

    /// Erases every credential, setting and secret (authenticatorReset). The audit log is
    /// kept: it records that the reset happened.
    fn erase(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
            "DELETE FROM credentials; DELETE FROM settings; DELETE FROM secrets; DELETE FROM site_rules;
             DELETE FROM large_blobs; DELETE FROM known_sites;",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
