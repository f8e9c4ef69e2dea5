//! The identity of the calling OS thread, as a plain number.
//!
//! The recorder asks for it on every event (is this the recorded thread?),
//! so each platform uses its cheapest call: `pthread_self` on Unix (a read
//! of the thread pointer), `GetCurrentThreadId` on Windows (a read of the
//! thread environment block). Two live threads never share a value; a value
//! may be reused after its thread ended.

/// The calling OS thread.
#[cfg(unix)]
#[inline]
pub(crate) fn current() -> usize {
    // SAFETY: pthread_self has no preconditions and cannot fail. pthread_t
    // is an integer (Linux) or a pointer (macOS); either fits a usize.
    unsafe { libc::pthread_self() as usize }
}

#[cfg(windows)]
#[link(name = "kernel32")]
extern "system" {
    fn GetCurrentThreadId() -> u32;
}

/// The calling OS thread.
#[cfg(windows)]
#[inline]
pub(crate) fn current() -> usize {
    // SAFETY: GetCurrentThreadId has no preconditions and cannot fail.
    unsafe { GetCurrentThreadId() as usize }
}

/// The calling OS thread: the address of a thread-local, unique among live
/// threads.
#[cfg(not(any(unix, windows)))]
#[inline]
pub(crate) fn current() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| m as *const u8 as usize)
}
