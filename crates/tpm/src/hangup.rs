//! The one FFI call this crate makes itself: shutdown(2) on the socket ESYS talks to the
//! TPM through, so that a command stuck in recv() returns. tss-esapi owns that socket and
//! exposes no handle to it, so all we have is the descriptor number.
#![allow(unsafe_code)]

use std::os::fd::{BorrowedFd, RawFd};

/// Shuts `fd` down for reading and writing. Errors (not a socket, already closed by the
/// peer) are ignored: the watchdog only needs the blocked call to return.
pub(crate) fn shutdown(fd: RawFd) {
    // SAFETY: `fd` is a socket of the ESYS context, which the watchdog learnt when the
    // connection was made; the context cannot close it while the watchdog is armed, because
    // the engine disarms (under the watchdog's lock) before any call that could drop the
    // context returns. shutdown(2) reads and writes no memory of ours.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = rustix::net::shutdown(borrowed, rustix::net::Shutdown::Both);
}

/// Whether the peer of socket `fd` has hung up (swtpm exited, tabrmd restarted), seen
/// without sending anything: poll(2) with a zero timeout reports POLLHUP/POLLRDHUP, or
/// readable data where no response is pending (which is an EOF).
pub(crate) fn peer_gone(fd: RawFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    // SAFETY: as for `shutdown`: the descriptor belongs to the live ESYS context (the key
    // store asks only while it holds the connection), and poll(2) only reads the pollfd
    // array rustix builds on its own stack.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [PollFd::new(
        &borrowed,
        PollFlags::IN | PollFlags::RDHUP | PollFlags::HUP,
    )];
    match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(0) => false,
        Ok(_) => !fds[0].revents().is_empty(),
        Err(_) => true,
    }
}
