/*
 * ct-python-recorder.exe -- native Windows launcher of the CodeTracer Python
 * recorder (docs/design/bundling-and-ct-record.md §5, docs/bundles.md "Native launcher").
 *
 * It does what the ct-python-recorder.cmd shim does, without cmd.exe's
 * pitfalls ("Terminate batch job (Y/N)?" after Ctrl+C, % and ! expanded
 * inside arguments, exit codes lost by `call`):
 *
 *   1. python: %CODETRACER_PYTHON%, %PYTHON%, then python3.exe, python.exe
 *      on %PATH% (never this launcher itself);
 *   2. PYTHONPATH = <recorder folder>;<original PYTHONPATH> (no empty entry),
 *      where the recorder folder is %CODETRACER_RECORDER_PATH%,
 *      %CODERTRACER_RECORDER_PATH% or <exe dir>\..\resources\python;
 *   3. CODETRACER_ORIG_PYTHONPATH = "unset" | "set:<original>" unless set;
 *   4. CODETRACER_FORMAT = ctfs unless the user set it (non-empty): the
 *      bundle records .ct by default; --format still wins (shims/README.md R7);
 *   5. runs `python -m codetracer_python_recorder <args>` with CreateProcessW,
 *      quoting every argument for CommandLineToArgvW / the C runtime, waits,
 *      and exits with the child's exit code.
 *
 * No python found: cmd's own words and cmd's exit code 9009.
 */
#ifndef UNICODE
#define UNICODE
#endif
#ifndef _UNICODE
#define _UNICODE
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#include <wchar.h>
#include <stdlib.h>

#define EXIT_NOT_FOUND 9009u /* what cmd.exe returns for an unknown command */
#define EXIT_LAUNCHER_FAILED 70u
/* The trace format exported when the user set none: [shims.default_format]
 * of packaging/ctbundle/resources/defaults.toml (the wine tests compare). */
#define DEFAULT_FORMAT L"ctfs"

/* ---- a growable wide string --------------------------------------------- */
typedef struct {
    wchar_t *p;
    size_t len, cap;
} wbuf;

static void die_oom(void)
{
    static const char msg[] = "ct-python-recorder: out of memory\r\n";
    DWORD n;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, (DWORD)(sizeof msg - 1), &n, NULL);
    ExitProcess(EXIT_LAUNCHER_FAILED);
}

static void wb_reserve(wbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    wchar_t *p = (wchar_t *)realloc(b->p, cap * sizeof(wchar_t));
    if (!p)
        die_oom();
    b->p = p;
    b->cap = cap;
}

static void wb_putc(wbuf *b, wchar_t c)
{
    wb_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = L'\0';
}

static void wb_puts(wbuf *b, const wchar_t *s)
{
    size_t n = wcslen(s);
    wb_reserve(b, n);
    memcpy(b->p + b->len, s, n * sizeof(wchar_t));
    b->len += n;
    b->p[b->len] = L'\0';
}

static void wb_putn(wbuf *b, wchar_t c, size_t n)
{
    while (n--)
        wb_putc(b, c);
}

/* ---- environment ------------------------------------------------------- */

/* The value of `name`, or NULL when the variable is not defined. An empty
 * value is returned as "" (defined but empty). Caller frees. */
static wchar_t *env_get(const wchar_t *name)
{
    SetLastError(ERROR_SUCCESS);
    DWORD n = GetEnvironmentVariableW(name, NULL, 0);
    if (n == 0) {
        if (GetLastError() == ERROR_ENVVAR_NOT_FOUND)
            return NULL;
        wchar_t *empty = (wchar_t *)calloc(1, sizeof(wchar_t));
        if (!empty)
            die_oom();
        return empty;
    }
    wchar_t *v = (wchar_t *)malloc(n * sizeof(wchar_t));
    if (!v)
        die_oom();
    DWORD got = GetEnvironmentVariableW(name, v, n);
    if (got >= n) { /* changed under our feet: try again */
        free(v);
        return env_get(name);
    }
    return v;
}

/* Non-empty value of `name`, else NULL. */
static wchar_t *env_nonempty(const wchar_t *name)
{
    wchar_t *v = env_get(name);
    if (v && !*v) {
        free(v);
        return NULL;
    }
    return v;
}

/* ---- paths --------------------------------------------------------------- */

static wchar_t *full_path(const wchar_t *path)
{
    DWORD n = GetFullPathNameW(path, 0, NULL, NULL);
    if (n == 0)
        return _wcsdup(path);
    wchar_t *out = (wchar_t *)malloc(n * sizeof(wchar_t));
    if (!out)
        die_oom();
    if (GetFullPathNameW(path, n, out, NULL) == 0 || !out[0]) {
        free(out);
        return _wcsdup(path);
    }
    return out;
}

static wchar_t *own_exe_path(void)
{
    DWORD cap = MAX_PATH;
    for (;;) {
        wchar_t *p = (wchar_t *)malloc(cap * sizeof(wchar_t));
        if (!p)
            die_oom();
        DWORD n = GetModuleFileNameW(NULL, p, cap);
        if (n > 0 && n < cap)
            return p;
        free(p);
        if (n == 0)
            return NULL;
        cap *= 2;
    }
}

static int is_file(const wchar_t *path)
{
    DWORD a = GetFileAttributesW(path);
    return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

static int same_path(const wchar_t *a, const wchar_t *b)
{
    wchar_t *fa = full_path(a), *fb = full_path(b);
    int same = CompareStringOrdinal(fa, -1, fb, -1, TRUE) == CSTR_EQUAL;
    free(fa);
    free(fb);
    return same;
}

static int has_dir_part(const wchar_t *s)
{
    return wcschr(s, L'\\') || wcschr(s, L'/') || wcschr(s, L':');
}

/* Search %PATH% (only %PATH%: unlike cmd, never the current directory) for
 * `name`; skips `self`. Returns a malloc'd full path or NULL. */
static wchar_t *search_path(const wchar_t *name, const wchar_t *self)
{
    wchar_t *path = env_get(L"PATH");
    if (!path)
        return NULL;
    wchar_t *found = NULL;
    wchar_t *next = path;
    while (next && !found) {
        wchar_t *dir = next;
        next = wcschr(dir, L';');
        if (next)
            *next++ = L'\0';
        /* PATH entries may be quoted ("C:\Program Files\x") */
        size_t dl = wcslen(dir);
        if (dl >= 2 && dir[0] == L'"' && dir[dl - 1] == L'"') {
            dir[dl - 1] = L'\0';
            dir++;
            dl -= 2;
        }
        if (dl == 0)
            continue;
        wbuf cand = {0};
        wb_puts(&cand, dir);
        if (dir[dl - 1] != L'\\' && dir[dl - 1] != L'/')
            wb_putc(&cand, L'\\');
        wb_puts(&cand, name);
        if (is_file(cand.p) && !(self && same_path(cand.p, self)))
            found = full_path(cand.p);
        free(cand.p);
    }
    free(path);
    return found;
}

/* A python named by an environment variable: a path, or a bare name looked
 * up on %PATH% (".exe" added when it has no extension). */
static wchar_t *resolve_named(const wchar_t *value, const wchar_t *self)
{
    if (has_dir_part(value))
        return _wcsdup(value);
    wchar_t *hit = search_path(value, self);
    if (hit || wcschr(value, L'.'))
        return hit;
    wbuf withexe = {0};
    wb_puts(&withexe, value);
    wb_puts(&withexe, L".exe");
    hit = search_path(withexe.p, self);
    free(withexe.p);
    return hit;
}

static wchar_t *find_python(const wchar_t *self)
{
    static const wchar_t *const vars[] = {L"CODETRACER_PYTHON", L"PYTHON"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        wchar_t *v = env_nonempty(vars[i]);
        if (v) {
            wchar_t *p = resolve_named(v, self);
            free(v);
            /* A variable naming a missing program is reported as missing,
             * like the shims do: no silent fallback to another python. */
            return p;
        }
    }
    static const wchar_t *const names[] = {L"python3.exe", L"python.exe"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        wchar_t *p = search_path(names[i], self);
        if (p)
            return p;
    }
    return NULL;
}

static wchar_t *recorder_dir(const wchar_t *self)
{
    wchar_t *v = env_nonempty(L"CODETRACER_RECORDER_PATH");
    if (!v)
        v = env_nonempty(L"CODERTRACER_RECORDER_PATH"); /* the misspelling docs/design/bundling-and-ct-record.md §5 accepts */
    if (v)
        return v;
    wbuf b = {0};
    wb_puts(&b, self);
    wchar_t *slash = wcsrchr(b.p, L'\\');
    if (slash) {
        b.len = (size_t)(slash - b.p);
        b.p[b.len] = L'\0';
    } else {
        b.len = 0;
        wb_puts(&b, L".");
    }
    wb_puts(&b, L"\\..\\resources\\python");
    wchar_t *full = full_path(b.p);
    free(b.p);
    return full;
}

/* ---- command line ---------------------------------------------------------- */

/* Append `arg` so that CommandLineToArgvW (and the MSVC/UCRT argv parser)
 * gives it back unchanged: quote when needed; inside quotes, backslashes
 * are literal unless they precede a quote (then doubled) or the closing
 * quote (then doubled). */
static void append_quoted(wbuf *b, const wchar_t *arg)
{
    if (*arg && !wcspbrk(arg, L" \t\n\v\"")) {
        wb_puts(b, arg);
        return;
    }
    wb_putc(b, L'"');
    for (const wchar_t *p = arg;; p++) {
        size_t backslashes = 0;
        while (*p == L'\\') {
            backslashes++;
            p++;
        }
        if (*p == L'\0') {
            wb_putn(b, L'\\', backslashes * 2);
            break;
        }
        if (*p == L'"') {
            wb_putn(b, L'\\', backslashes * 2 + 1);
            wb_putc(b, L'"');
        } else {
            wb_putn(b, L'\\', backslashes);
            wb_putc(b, *p);
        }
    }
    wb_putc(b, L'"');
}

/* ---- console: let the child decide about Ctrl+C ------------------------------- */

static BOOL WINAPI ignore_ctrl(DWORD type)
{
    /* The child is in our console and gets the same event; we outlive it to
     * return its exit code. A handler (unlike SetConsoleCtrlHandler(NULL,
     * TRUE)) is not inherited by the child. */
    return type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT;
}

static void write_stderr_ascii(const char *s)
{
    DWORD n;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), s, (DWORD)strlen(s), &n, NULL);
}

int main(void)
{
    wchar_t *self = own_exe_path();
    if (!self) {
        write_stderr_ascii("ct-python-recorder: cannot find its own path\r\n");
        return (int)EXIT_LAUNCHER_FAILED;
    }

    wchar_t *python = find_python(self);
    if (!python) {
        write_stderr_ascii("'python' is not recognized as an internal or external command,\r\n"
                           "operable program or batch file.\r\n");
        return (int)EXIT_NOT_FOUND;
    }

    /* PYTHONPATH = recorder[;original] and the note for the recorder to undo it. */
    wchar_t *recorder = recorder_dir(self);
    wchar_t *orig = env_get(L"PYTHONPATH");
    wchar_t *note = env_get(L"CODETRACER_ORIG_PYTHONPATH");
    if (!note) {
        wbuf n = {0};
        if (orig) {
            wb_puts(&n, L"set:");
            wb_puts(&n, orig);
        } else {
            wb_puts(&n, L"unset");
        }
        SetEnvironmentVariableW(L"CODETRACER_ORIG_PYTHONPATH", n.p);
        free(n.p);
    }
    wbuf pp = {0};
    wb_puts(&pp, recorder);
    if (orig && *orig) {
        wb_putc(&pp, L';');
        wb_puts(&pp, orig);
    }
    SetEnvironmentVariableW(L"PYTHONPATH", pp.p);

    /* The trace format: the user's %CODETRACER_FORMAT% when non-empty, else
     * the bundle's default; the recorder's --format option wins over both. */
    wchar_t *format = env_nonempty(L"CODETRACER_FORMAT");
    if (!format)
        SetEnvironmentVariableW(L"CODETRACER_FORMAT", DEFAULT_FORMAT);
    free(format);

    /* python -m codetracer_python_recorder <our arguments, requoted> */
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    wbuf cmd = {0};
    append_quoted(&cmd, python);
    wb_puts(&cmd, L" -m codetracer_python_recorder");
    for (int i = 1; argv && i < argc; i++) {
        wb_putc(&cmd, L' ');
        append_quoted(&cmd, argv[i]);
    }

    SetConsoleCtrlHandler(ignore_ctrl, TRUE);

    /* The child dies with us (e.g. when a parent kills the launcher); best
     * effort: without a job object the launch still works. */
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (job) {
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
        ZeroMemory(&info, sizeof info);
        info.BasicLimitInformation.LimitFlags =
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
        if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
            CloseHandle(job);
            job = NULL;
        }
    }

    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(python, cmd.p, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &pi)) {
        DWORD err = GetLastError();
        if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) {
            write_stderr_ascii("'python' is not recognized as an internal or external command,\r\n"
                               "operable program or batch file.\r\n");
            return (int)EXIT_NOT_FOUND;
        }
        char msg[128];
        wsprintfA(msg, "ct-python-recorder: cannot start python (error %lu)\r\n", (unsigned long)err);
        write_stderr_ascii(msg);
        return (int)EXIT_LAUNCHER_FAILED;
    }
    if (job)
        AssignProcessToJobObject(job, pi.hProcess); /* fails harmlessly inside a foreign job */
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);

    DWORD code = EXIT_LAUNCHER_FAILED;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    if (argv)
        LocalFree(argv);
    ExitProcess(code);
}
