//! Running a child (AppRun, or squashfuse for `--appimage-mount`) as the
//! runtime's only job: signals sent to the runtime are forwarded to it, and
//! its exit status becomes the runtime's.
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use libc::{c_int, c_void, siginfo_t};

/// Signals a user (or a process manager) sends to stop or poke a program.
const FORWARDED: [c_int; 7] =
    [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM];

static CHILD: AtomicI32 = AtomicI32::new(0);
static FORWARD_KERNEL_SIGNALS: AtomicBool = AtomicBool::new(false);

extern "C" fn forward(sig: c_int, info: *mut siginfo_t, _context: *mut c_void) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid <= 0 {
        return;
    }
    // SAFETY: the kernel hands a valid siginfo_t to an SA_SIGINFO handler.
    let code = if info.is_null() { 0 } else { unsafe { (*info).si_code } };
    // si_code > 0 means the kernel sent it: a terminal's Ctrl-C/Ctrl-\ or
    // hang-up, which already reached the child in the same process group.
    if code > 0 && !FORWARD_KERNEL_SIGNALS.load(Ordering::SeqCst) {
        return;
    }
    // SAFETY: kill is async-signal-safe.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Forwards the signals above to `child` until it has been waited for.
/// `kernel_signals`: also forward terminal-generated ones (for a child in
/// its own process group).
pub fn forward_signals(child: &Child, kernel_signals: bool) {
    let Ok(pid) = i32::try_from(child.id()) else { return };
    FORWARD_KERNEL_SIGNALS.store(kernel_signals, Ordering::SeqCst);
    CHILD.store(pid, Ordering::SeqCst);
    for sig in FORWARDED {
        // SAFETY: a zeroed sigaction with a valid handler and flags is well-formed.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

pub fn stop_forwarding() {
    CHILD.store(0, Ordering::SeqCst);
}

/// Leaves the runtime the way the child left: same exit code, or death by
/// the same signal (so a shell sees `128+N` and a parent sees WIFSIGNALED).
pub fn exit_like(status: ExitStatus) -> ! {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    let sig = status.signal().unwrap_or(libc::SIGKILL);
    // SAFETY: plain libc calls on our own process.
    unsafe {
        // The child dumped its core already, if it was going to.
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
    }
    std::process::exit(128 + sig);
}
