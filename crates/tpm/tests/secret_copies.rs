//! The root seed is never left behind in freed memory (issue 23): the key store's state —
//! seed and all — used to be built in a 1024-byte vector that `into_boxed_slice` copied
//! and freed unwiped. An allocator that looks into every block freed while the state is
//! encoded, saved and dropped finds no copy of the seed.
//!
//! The one `unsafe` here is the allocator itself: `GlobalAlloc` is an unsafe trait, and the
//! look into a block being freed is a raw read of memory the allocator is handed.
#![allow(clippy::unwrap_used, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use tpm_passkey_core::{KeyStore, SecretBytes};
use tpm_passkey_tpm::{Swtpm, TpmKeyStore};

/// A seed nobody would make: 32 bytes of a recognisable pattern.
const SEED: [u8; 32] = [
    0x5e, 0xed, 0x5e, 0xed, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x5e, 0xed, 0x5e, 0xed,
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x5e, 0xed, 0x5e, 0xed, 0x13, 0x57, 0x9b, 0xdf,
];

static WATCHING: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
/// One test looks at a time (the allocator is the process's).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Inspecting;

// SAFETY: every call is passed to the system allocator unchanged; `dealloc` only reads the
// block it is about to free, which is valid for `layout.size()` bytes until it does.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::Relaxed) && layout.size() >= SEED.len() {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes that we were given.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(SEED.len()).any(|w| w == SEED) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: as for the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Inspecting = Inspecting;

/// Freed blocks holding the seed while `f` runs.
fn copies_left_by(f: impl FnOnce()) -> usize {
    FOUND.store(0, Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    f();
    WATCHING.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}

#[test]
fn secret_bytes_leave_no_copy_when_taken_from_a_roomy_vector() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let found = copies_left_by(|| {
        let mut v = Vec::with_capacity(1024);
        v.extend_from_slice(&SEED);
        let s = SecretBytes::new(v);
        assert_eq!(s.expose_secret_bytes(), SEED);
        drop(s);
    });
    assert_eq!(found, 0, "a freed block still held the secret");
    // Control: the allocator does see a copy that is freed as it is.
    let found = copies_left_by(|| {
        let mut v = Vec::with_capacity(1024);
        v.extend_from_slice(&SEED);
        drop(v);
    });
    assert_eq!(found, 1);
}

#[test]
fn the_key_store_s_state_leaves_no_copy_of_the_seed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).unwrap();
    // The first layout: version 1, the seed, no PIN index.
    let mut first = vec![1u8];
    first.extend_from_slice(&SEED);
    first.extend_from_slice(&[0; 4]);
    let keys = TpmKeyStore::open(&swtpm.tcti(), None, Some(&SecretBytes::new(first))).unwrap();
    let found = copies_left_by(|| {
        let state = keys.state();
        assert_eq!(&state.expose_secret_bytes()[1..33], SEED);
        drop(state);
    });
    assert_eq!(
        found, 0,
        "the state's encoding left the seed in freed memory"
    );
}
