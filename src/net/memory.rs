//! Giving memory back to the system after a load peak.
//!
//! The one `unsafe` call outside the C ABI: `malloc_trim` has no
//! preconditions and touches no live allocation; glibc returns the free
//! pages at the top of (and, since 2.8, within) its heaps to the system.
#![allow(unsafe_code)]

/// Returns free heap memory to the system.
pub fn give_back() {
    // SAFETY: malloc_trim only returns free heap memory to the system; it has
    // no preconditions and touches no live allocation.
    unsafe { libc::malloc_trim(0) };
}
