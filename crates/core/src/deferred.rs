//! A computation started on a thread of its own and collected later: the engine hands it
//! work that is needed only at the end of a request (the PIN protocol's ECDH in
//! getPinUvAuthTokenUsingUv), so that it runs while the person reads the prompt and the
//! TPM checks the PIN instead of before them (docs/PERFORMANCE.md).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tpm_passkey_wire::Status;

type Work<T> = Box<dyn FnOnce() -> Result<T, Status> + Send>;

/// Work running on its own thread, or — if no thread could be made — waiting to run at
/// [`Deferred::finish`]. Dropped unfinished, the thread runs to its end and drops what it
/// made (secrets zeroize themselves on drop).
pub(crate) struct Deferred<T> {
    thread: Option<JoinHandle<Result<T, Status>>>,
    work: Arc<Mutex<Option<Work<T>>>>,
}

impl<T: Send + 'static> Deferred<T> {
    pub(crate) fn start(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Self {
        let work: Arc<Mutex<Option<Work<T>>>> = Arc::new(Mutex::new(Some(Box::new(f))));
        let theirs = Arc::clone(&work);
        let thread = std::thread::Builder::new()
            .name("deferred".into())
            .spawn(move || {
                let f = theirs.lock().unwrap_or_else(PoisonError::into_inner).take();
                f.map_or(Err(Status::Other), |f| f())
            })
            .ok();
        Deferred { thread, work }
    }

    /// The result: joined from the thread, or computed now if the thread never started.
    pub(crate) fn finish(mut self) -> Result<T, Status> {
        if let Some(t) = self.thread.take() {
            return t.join().unwrap_or(Err(Status::Other));
        }
        let f = self
            .work
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        f.map_or(Err(Status::Other), |f| f())
    }
}

impl<T> std::fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferred")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_on_another_thread_and_its_result_comes_back() {
        let caller = std::thread::current().id();
        let d = Deferred::start(move || Ok(std::thread::current().id() != caller));
        assert_eq!(d.finish(), Ok(true));
        let failed: Deferred<()> = Deferred::start(|| Err(Status::InvalidParameter));
        assert_eq!(failed.finish(), Err(Status::InvalidParameter));
    }

    #[test]
    fn a_panic_in_the_work_is_an_error_not_a_panic() {
        let d: Deferred<u8> = Deferred::start(|| panic!("boom"));
        assert_eq!(d.finish(), Err(Status::Other));
    }
}
