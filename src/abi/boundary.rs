//! The FFI boundary: what every exported `BRAC_*` and `BRAS_*` function
//! goes through.
//!
//! - `ffi_boundary!` is the whole body of every exported function (the
//!   implemented ones and those whose feature is not provided alike). It runs
//!   the body inside [`catch_unwind`]: a panic becomes [`ERR_INTERNAL`] (the
//!   documented code for an internal error, `GV_ERR_MEMORYFAIL`) and never
//!   unwinds into C. The unit tests of [`crate::abi`] call every export with
//!   a panic injected at this boundary and check that each returns
//!   [`ERR_INTERNAL`].
//! - The argument helpers: C strings in (`c_bytes`) and out
//!   (`copy_out`: a buffer too small gets what fits and 21), byte buffers in (`bytes_in`), out-parameters
//!   (`put`, `put_u32`, `fill_ids`), and callback registrations
//!   (`Registered`, `Slot`). They check NULL pointers and lengths and
//!   return `GV_ERR_FUNCOPTERROR` (21); what they cannot check (that a
//!   non-NULL pointer points to as many bytes as the caller says) is the
//!   caller's side of the contract, stated in each `# Safety`.
//!
//! After a caught panic the library goes on: its shared state sits behind
//! `parking_lot` locks, which are released (not poisoned) on unwinding, and
//! every function re-checks what it reads.
//!
//! The boundary also writes the call log: one line per call, the
//! function's name and its result (target `anychat::call`: `info`, and
//! `trace` for the per-frame media input functions), and an `error` line
//! for a caught panic. Nobody sees them unless a `tracing` subscriber is
//! installed: the program's own, or the log file [`crate::logging`] opens
//! when `BRAC_ActiveCallLog(TRUE)` or the environment turns it on (the
//! boundary reads the environment at the first call).

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::types::{DWORD, LPDWORD, LPVOID, TCHAR};
use crate::logging::CALL_TARGET;
use crate::wire::constants::{GV_ERR_FUNCOPTERROR, GV_ERR_MEMORYFAIL};

/// Returned when a panic was caught inside the library (an internal error).
pub const ERR_INTERNAL: DWORD = GV_ERR_MEMORYFAIL;

/// The body of an exported function: `ffi_boundary! { … }` evaluates the
/// statements inside (a `DWORD` expression at the end; `return` leaves the
/// body with a code), turns a panic into [`ERR_INTERNAL`] and logs the call
/// (the function's name comes from the path of an item declared inside it).
///
/// ```ignore
/// #[no_mangle]
/// pub extern "C" fn BRAC_LeaveRoom(dwRoomid: DWORD) -> DWORD {
///     ffi_boundary! { with_sdk(|c| c.leave_room(dwRoomid)) }
/// }
/// ```
macro_rules! ffi_boundary {
    ($($body:tt)*) => {{
        fn here() {}
        $crate::abi::boundary::catch_panic(::std::any::type_name_of_val(&here), || -> $crate::abi::types::DWORD {
            $($body)*
        })
    }};
}
pub(crate) use ffi_boundary;

/// What [`ffi_boundary!`] expands to: runs `body`, a panic becomes
/// [`ERR_INTERNAL`]; logs the call. `here` is the path of an item inside
/// the exported function (`anychat::abi::brac::api::BRAC_Connect::here`).
/// The logging runs inside a `catch_unwind` of its own: nothing unwinds
/// into C, whatever a subscriber does.
pub(crate) fn catch_panic(here: &'static str, body: impl FnOnce() -> DWORD) -> DWORD {
    let run = || {
        crate::logging::init_from_env(function_name(here));
        #[cfg(test)]
        injected::fire();
        body()
    };
    let (code, panic) = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(code) => (code, None),
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            drop_payload(payload);
            (ERR_INTERNAL, Some(why))
        }
    };
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| log_call(here, code, panic))) {
        drop_payload(payload);
    }
    code
}

/// The call log's line for one call (and the wait of a release: see
/// [`crate::logging`]).
fn log_call(here: &'static str, code: DWORD, panic: Option<String>) {
    if !tracing::level_enabled!(tracing::Level::ERROR) {
        return; // no subscriber wants anything: nothing to do
    }
    let name = function_name(here);
    if let Some(why) = panic {
        tracing::error!(target: CALL_TARGET, "{name}: internal error, a panic was caught: {why}");
    }
    // A release waits for what was logged before it and for its own line to
    // be written (room is made for that line first), so that an app that
    // exits at once loses none of its log.
    let release = crate::logging::is_active() && matches!(name, "BRAC_Release" | "BRAS_Release");
    if release {
        crate::logging::sync();
    }
    if PER_FRAME.contains(&name) {
        tracing::trace!(target: CALL_TARGET, "{name} -> {code}");
    } else {
        tracing::info!(target: CALL_TARGET, "{name} -> {code}");
    }
    if release {
        crate::logging::sync();
    }
}

/// The functions an app calls for every media frame: logged at `trace`.
const PER_FRAME: [&str; 5] = [
    "BRAC_InputVideoData",
    "BRAC_InputVideoDataEx",
    "BRAC_InputAudioData",
    "BRAC_InputAudioDataEx",
    "BRAC_FetchAudioPlayBuffer",
];

/// The exported function's name in the path of an item declared in it.
pub(crate) fn function_name(here: &'static str) -> &'static str {
    let path = here.strip_suffix("::here").unwrap_or(here);
    path.rsplit("::").next().unwrap_or(path)
}

/// Drops a panic's payload without letting a panicking destructor unwind
/// from here: that second payload is leaked instead.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// A panic at the start of [`catch_panic`], armed per thread by the unit
/// tests, which thereby check that every export runs inside the boundary.
#[cfg(test)]
pub(crate) mod injected {
    use std::cell::Cell;

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
        static FIRED: Cell<u32> = const { Cell::new(0) };
    }

    /// Arms (or disarms) the panic for this thread's next boundaries.
    pub(crate) fn arm(on: bool) {
        ARMED.with(|a| a.set(on));
    }

    /// How many injected panics this thread's boundaries caught.
    pub(crate) fn fired() -> u32 {
        FIRED.with(Cell::get)
    }

    /// Panics when armed (without calling the panic hook: no noise).
    pub(super) fn fire() {
        if ARMED.with(Cell::get) {
            FIRED.with(|f| f.set(f.get() + 1));
            std::panic::resume_unwind(Box::new("panic injected at the FFI boundary"));
        }
    }
}

// ----- arguments -----------------------------------------------------------

/// Reads a NUL-terminated string of at most `max` bytes; NULL reads as "".
/// `None` when longer than `max`. The bytes are kept as they are (never
/// assumed to be UTF-8).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn c_bytes(p: *const c_char, max: usize) -> Option<Vec<u8>> {
    if p.is_null() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for i in 0..=max {
        // SAFETY: the caller guarantees a NUL-terminated string; we stop at the NUL.
        let b = unsafe { *p.add(i) } as u8;
        if b == 0 {
            return Some(out);
        }
        out.push(b);
    }
    None
}

/// The `len` bytes at `p`: 21 when `p` is NULL, `len` is 0 or above `max`.
///
/// # Safety
/// `p` is NULL or has `len` readable bytes that stay valid and unchanged
/// for `'a`.
pub(crate) unsafe fn bytes_in<'a>(p: *const u8, len: DWORD, max: usize) -> Result<&'a [u8], DWORD> {
    if p.is_null() || len == 0 || len as usize > max {
        return Err(GV_ERR_FUNCOPTERROR);
    }
    // SAFETY: non-NULL and `len` readable bytes, as the caller promised.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// Copies `bytes` and a NUL into `buf` of `len` bytes: 0 when they fit.
/// When they do not, as much as fits, still NUL-terminated (so that a
/// caller that ignores the code reads a shorter string, never an
/// unterminated one), and 21 (`GV_ERR_FUNCOPTERROR`), so that the caller
/// can tell: the convention of every function that copies a string out.
/// 21 also for a NULL `buf` or `len` 0 (nothing written).
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn copy_out(buf: *mut c_char, len: usize, bytes: &[u8]) -> DWORD {
    if buf.is_null() || len == 0 {
        return GV_ERR_FUNCOPTERROR;
    }
    let n = bytes.len().min(len - 1);
    // SAFETY: `n + 1 <= len` bytes of `buf` are writable, as the caller promised.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
    if n < bytes.len() {
        GV_ERR_FUNCOPTERROR
    } else {
        0
    }
}

/// Writes `v` to the out-parameter `p`: 0, or 21 for NULL.
///
/// # Safety
/// `p` is NULL or points to a writable, aligned `T`.
pub(crate) unsafe fn put<T>(p: *mut T, v: T) -> DWORD {
    if p.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: non-NULL, writable and aligned, as the caller promised.
    unsafe { p.write(v) };
    0
}

/// Writes a 4-byte value into an info buffer of `len` bytes (the
/// `char *infoval, int infolen` kind, not necessarily aligned): 0, or 21 for
/// NULL or fewer than 4 bytes.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn put_u32(buf: *mut c_char, len: usize, v: u32) -> DWORD {
    if buf.is_null() || len < 4 {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: at least 4 writable bytes at `buf`; unaligned write.
    unsafe { std::ptr::write_unaligned(buf as *mut u32, v) };
    0
}

/// Writes a double (8 bytes, unaligned) to `buf` of `len` bytes: 21 when it
/// does not fit.
///
/// # Safety
/// `buf` is NULL or has `len` writable bytes.
pub(crate) unsafe fn put_f64(buf: *mut c_char, len: usize, v: f64) -> DWORD {
    if buf.is_null() || len < 8 {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: at least 8 writable bytes at `buf`; unaligned write.
    unsafe { std::ptr::write_unaligned(buf as *mut f64, v) };
    0
}

/// The vendor's two-step device enumeration: fills the app's array of
/// `*dwDeviceNum` name pointers with names allocated with `malloc` (the app frees each with `free`, as it frees
/// them with `GlobalFree` on Windows) and sets `*dwDeviceNum` to the number
/// written; a NULL array only counts.
///
/// # Safety
/// `names` is NULL or has `*num` writable pointers; `num` is NULL or a
/// writable DWORD.
pub(crate) unsafe fn fill_names(names: *mut *mut TCHAR, num: *mut DWORD, list: &[String]) -> DWORD {
    if num.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    if names.is_null() {
        // SAFETY: checked non-NULL; the caller's DWORD.
        return unsafe { put(num, list.len() as DWORD) };
    }
    // SAFETY: checked non-NULL; the caller's DWORD.
    let room = unsafe { *num } as usize;
    let mut written = 0;
    for name in list.iter().take(room) {
        // SAFETY: malloc of the name's length and a NUL; NULL checked below.
        let p = unsafe { libc::malloc(name.len() + 1) } as *mut c_char;
        if p.is_null() {
            break;
        }
        // SAFETY: `p` has `name.len() + 1` writable bytes; slot `written`
        // is below `room`, within the caller's array.
        unsafe {
            copy_out(p, name.len() + 1, name.as_bytes());
            *names.add(written) = p;
        }
        written += 1;
    }
    // SAFETY: as above.
    unsafe { put(num, written as DWORD) }
}

/// The two-step (array, count) habit: NULL array → write the count; else
/// fill up to `*num` ids and set `*num` to the number written. A NULL
/// `num`: 21.
///
/// # Safety
/// `num` is NULL or valid; `arr`, when not NULL, has room for `*num` ids.
pub(crate) unsafe fn fill_ids(arr: LPDWORD, num: *mut DWORD, ids: &[u32]) -> DWORD {
    if num.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: `num` is non-NULL and points to a DWORD the caller owns; `arr`
    // has room for `*num` ids.
    unsafe {
        if arr.is_null() {
            *num = ids.len() as DWORD;
        } else {
            let n = ids.len().min(*num as usize);
            std::ptr::copy_nonoverlapping(ids.as_ptr(), arr, n);
            *num = n as DWORD;
        }
    }
    0
}

/// Writes the library's version (`BRAC_GetSDKVersion`, `BRAS_GetSDKVersion`):
/// major and minor into `main` and `sub` (both required: else 21), and, when
/// `text` is not NULL and `len` > 0, a build description ([`copy_out`]: cut
/// to `len` bytes and 21 when it does not fit).
///
/// # Safety
/// Non-NULL pointers are valid; `text` has `len` writable bytes.
pub(crate) unsafe fn write_version(main: *mut DWORD, sub: *mut DWORD, text: *mut TCHAR, len: DWORD) -> DWORD {
    if main.is_null() || sub.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: both pointers were checked non-NULL.
    unsafe {
        *main = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
        *sub = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    }
    if !text.is_null() && len > 0 {
        // SAFETY: the caller gave `len` writable bytes.
        return unsafe { copy_out(text, len as usize, build_description().as_bytes()) };
    }
    0
}

/// The build description `BRAC_GetSDKVersion` (and `BRAS_`) and
/// `BRAC_SO_CORESDK_BUILDTIME` report.
pub(crate) fn build_description() -> &'static str {
    concat!("anychat-rs ", env!("CARGO_PKG_VERSION"))
}

// ----- callback registrations --------------------------------------------------

/// A callback and its user value, stored as plain words so that they may
/// cross threads. The library hands `user` back unchanged and never
/// dereferences it.
#[derive(Clone, Copy)]
pub(crate) struct Registered<F> {
    pub(crate) func: F,
    pub(crate) user: usize,
}

impl<F> Registered<F> {
    /// A registration from the app's (function, user value); NULL → None.
    pub(crate) fn new(func: Option<F>, user: LPVOID) -> Option<Self> {
        func.map(|func| Registered { func, user: user as usize })
    }

    /// The app's user value.
    pub(crate) fn user(&self) -> LPVOID {
        self.user as LPVOID
    }
}

/// The function type inside a callback typedef's `Option`.
pub(crate) trait Unwrap {
    type F: Copy;
}
impl<F: Copy> Unwrap for Option<F> {
    type F = F;
}

/// A registry slot for the callback typedef `T` (an `Option<fn>`).
pub(crate) type Slot<T> = Option<Registered<<T as Unwrap>::F>>;
