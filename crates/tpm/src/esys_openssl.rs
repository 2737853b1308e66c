//! ESYS's OpenSSL library context, made once instead of once per digest.
//!
//! tpm2-tss 3.2 (Debian 12's ESYS) computes its session crypto — every cpHash and rpHash,
//! every session HMAC, every nonceCaller, every object name — with OpenSSL 3 in a library
//! context of its own, so that a TPM provider loaded into the global context is never
//! asked to hash for the TPM's own session (tpm2-tss issue 2150, pull request 2152). It
//! makes that context with `OSSL_LIB_CTX_new` for *each* operation and frees it after. A
//! fresh context has an empty name map and no random generator, so each digest first
//! fills the map from every algorithm name OpenSSL knows and each nonce instantiates and
//! seeds a DRBG. Measured on the private simulator (docs/PERFORMANCE.md "ESYS's OpenSSL
//! contexts"): a Sign through a policy session took 2.6 ms, 0.6 ms with one context, and
//! R_pin 6.1 ms, 1.1 ms with one context.
//!
//! A binary that wants one context links this module and exports its two functions
//! dynamically (`-Wl,--export-dynamic-symbol=OSSL_LIB_CTX_new` and `…_free`, set by the
//! build scripts of the daemon and of the benches and tests that measure it). The
//! dynamic linker then binds ESYS's calls to them before libcrypto's (the executable comes
//! first in the lookup order; an unversioned definition satisfies ESYS's versioned
//! reference). ESYS gets one context, made by OpenSSL's own `OSSL_LIB_CTX_new` on first
//! use and never freed; its frees of that context are ignored; any other context is made
//! and freed by OpenSSL as before. Nothing else changes: ESYS configures nothing in the
//! context (it imports no provider, property or DRBG setter), so a kept context holds the
//! same default provider a fresh one loads, and a random generator that OpenSSL reseeds
//! itself — the isolation from the global context is kept. Only libtss2-esys imports these
//! two functions in the daemon (`nm -D`); the daemon's own crypto is RustCrypto.
//!
//! Without the export the functions are never called and ESYS runs as shipped: the kept
//! context is an optimisation, not something correctness depends on. [`counts`] tells
//! which happened (`tests/esys_openssl.rs` asserts one context for many operations).
#![allow(unsafe_code)]

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// glibc's `RTLD_NEXT` (dlfcn.h: `((void *) -1l)`): the next object after ours in the
/// lookup order, here libcrypto.
const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;
/// The version libtss2-esys asks for (`nm -D`: `OSSL_LIB_CTX_new@OPENSSL_3.0.0`).
const OPENSSL_3: &CStr = c"OPENSSL_3.0.0";

/// The kept context, as an address (0: not made yet).
static KEPT: AtomicUsize = AtomicUsize::new(0);
/// Whether ESYS gets the kept context (a bench turns it off to time ESYS as shipped).
static ENABLED: AtomicBool = AtomicBool::new(true);
/// Calls of our `OSSL_LIB_CTX_new`, and contexts OpenSSL actually made for them.
static ASKED: AtomicU64 = AtomicU64::new(0);
static MADE: AtomicU64 = AtomicU64::new(0);

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// libcrypto's own definition of `name`, or None.
fn next(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlvsym reads the two NUL-terminated strings and returns an address or NULL;
    // RTLD_NEXT is a valid pseudo-handle from inside a loaded object.
    let f = unsafe { libc::dlvsym(RTLD_NEXT, name.as_ptr(), OPENSSL_3.as_ptr()) };
    (!f.is_null()).then_some(f)
}

fn real_new() -> *mut c_void {
    let Some(f) = next(c"OSSL_LIB_CTX_new") else {
        return std::ptr::null_mut(); // ESYS reports a crypto error; nothing is half-made
    };
    // SAFETY: `f` is libcrypto's OSSL_LIB_CTX_new (found under its name and version),
    // whose type is `OSSL_LIB_CTX *(void)`.
    let f: NewFn = unsafe { std::mem::transmute::<*mut c_void, NewFn>(f) };
    MADE.fetch_add(1, Ordering::Relaxed);
    // SAFETY: as above; it takes no arguments and returns a new context or NULL.
    unsafe { f() }
}

/// Our `OSSL_LIB_CTX_new`: the kept context, made on first use.
#[no_mangle]
pub extern "C" fn OSSL_LIB_CTX_new() -> *mut c_void {
    ASKED.fetch_add(1, Ordering::Relaxed);
    if !ENABLED.load(Ordering::Relaxed) {
        return real_new();
    }
    let kept = KEPT.load(Ordering::Acquire);
    if kept != 0 {
        return kept as *mut c_void;
    }
    let made = real_new();
    if made.is_null() {
        return made;
    }
    match KEPT.compare_exchange(0, made as usize, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => made,
        // Another thread kept one first: free ours, use theirs.
        Err(theirs) => {
            real_free(made);
            theirs as *mut c_void
        }
    }
}

fn real_free(ctx: *mut c_void) {
    if let Some(f) = next(c"OSSL_LIB_CTX_free") {
        // SAFETY: `f` is libcrypto's OSSL_LIB_CTX_free, `void (OSSL_LIB_CTX *)`.
        let f: FreeFn = unsafe { std::mem::transmute::<*mut c_void, FreeFn>(f) };
        // SAFETY: `ctx` came from OSSL_LIB_CTX_new (or is NULL, which it accepts) and is
        // not the kept context, so nothing uses it after this.
        unsafe { f(ctx) }
    }
}

/// Our `OSSL_LIB_CTX_free`: the kept context stays; any other is freed.
#[no_mangle]
pub extern "C" fn OSSL_LIB_CTX_free(ctx: *mut c_void) {
    if ctx.is_null() || ctx as usize == KEPT.load(Ordering::Acquire) {
        return;
    }
    real_free(ctx);
}

/// How many library contexts ESYS asked for, and how many OpenSSL made, in this process.
/// (0, 0) when the binary does not export the functions: ESYS runs as shipped.
pub fn counts() -> (u64, u64) {
    (ASKED.load(Ordering::Relaxed), MADE.load(Ordering::Relaxed))
}

/// Whether ESYS gets the kept context (default) or a fresh one each time, as shipped —
/// for a bench that times the floors both ways. The kept context stays made.
pub fn keep_one(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Keeps both functions in a binary that exports them (the linker drops an unreferenced
/// object before it reads `--export-dynamic-symbol`).
pub(crate) fn linked() -> usize {
    let new: extern "C" fn() -> *mut c_void = OSSL_LIB_CTX_new;
    let free: extern "C" fn(*mut c_void) = OSSL_LIB_CTX_free;
    std::hint::black_box(new as usize ^ free as usize)
}
