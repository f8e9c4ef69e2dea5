//! The AppImage type-2 markers that live in ELF sections.
//!
//! Tools (appimagetool, appimageupdatetool, AppImageLauncher, `file`...)
//! look for `.upd_info` (update information, NUL-terminated, 1024 bytes),
//! `.sha256_sig` (signature, 1024 bytes) and `.sig_key` (public key, 8192
//! bytes). They are zero here: a signer or an update-info writer fills them
//! in the finished file. The `AI\x02` magic at offset 8 of the ELF header
//! cannot be produced by the linker; `packaging/ctbundle/_appimage_runtime.py`
//! writes it after the build.

#[used]
#[link_section = ".upd_info"]
static UPD_INFO: [u8; 1024] = [0; 1024];

#[used]
#[link_section = ".sha256_sig"]
static SHA256_SIG: [u8; 1024] = [0; 1024];

#[used]
#[link_section = ".sig_key"]
static SIG_KEY: [u8; 8192] = [0; 8192];

/// Keeps the sections alive through the linker's garbage collection (a
/// section nothing refers to is dropped by `--gc-sections`).
pub fn keep() {
    std::hint::black_box(&UPD_INFO);
    std::hint::black_box(&SHA256_SIG);
    std::hint::black_box(&SIG_KEY);
}
