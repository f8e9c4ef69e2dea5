//! Which OS errors get a code of their own (disk full, permission denied).

use std::io;

use crate::code::ErrorCode;

/// The code for `err`: a specific one when the OS error says what happened,
/// else `fallback`.
pub(crate) fn classify(fallback: ErrorCode, err: &io::Error) -> ErrorCode {
    if let Some(errno) = err.raw_os_error() {
        if DISK_FULL.contains(&errno) {
            return ErrorCode::DiskFull;
        }
        if PERMISSION_DENIED.contains(&errno) {
            return ErrorCode::PermissionDenied;
        }
    }
    if err.kind() == io::ErrorKind::PermissionDenied {
        return ErrorCode::PermissionDenied;
    }
    fallback
}

#[cfg(unix)]
const DISK_FULL: &[i32] = &[libc::ENOSPC, libc::EFBIG, libc::EDQUOT];
#[cfg(unix)]
const PERMISSION_DENIED: &[i32] = &[libc::EACCES, libc::EPERM, libc::EROFS];

// Win32 codes: ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL, ERROR_FILE_TOO_LARGE,
// ERROR_DISK_QUOTA_EXCEEDED; ERROR_ACCESS_DENIED, ERROR_WRITE_PROTECT.
#[cfg(windows)]
const DISK_FULL: &[i32] = &[39, 112, 223, 1295];
#[cfg(windows)]
const PERMISSION_DENIED: &[i32] = &[5, 19];

#[cfg(not(any(unix, windows)))]
const DISK_FULL: &[i32] = &[];
#[cfg(not(any(unix, windows)))]
const PERMISSION_DENIED: &[i32] = &[];
