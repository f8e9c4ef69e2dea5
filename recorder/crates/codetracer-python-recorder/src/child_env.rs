//! Stand-ins of the functions that start a program with an environment the
//! caller gives (`subprocess`'s `_fork_exec`, `os.posix_spawn`,
//! `os.posix_spawnp`, `os.execve`): the child gets the variable of a
//! recording that follows processes ([`env::PARENT_TRACE`]) as a child
//! started with the process's own environment does, in a new environment
//! made for the call — the caller's mapping or list is never changed — and
//! nothing else differs: the program's own function runs with the same
//! arguments, and its errors are the program's (docs/recorder.md,
//! "Processes"). Built-in functions, so no frame of ours appears in a
//! traceback. The Python side (`_child_env.py`) puts them in place while a
//! recording follows processes and gives the program's own back.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyList, PyString, PyTuple};
use recorder_errors::prelude::*;

use crate::env;

/// The functions we stand in for, by name (a stand-in bears its function's name).
const NAMES: [(&str, &std::ffi::CStr); 4] = [
    ("fork_exec", c"fork_exec"),
    ("posix_spawn", c"posix_spawn"),
    ("posix_spawnp", c"posix_spawnp"),
    ("execve", c"execve"),
];

/// The keyword `os.execve` also takes its environment by.
const ENV_KEYWORD: &str = "env";

/// A stand-in for `real` (named `name`, one of [`NAMES`]), whose
/// environment is its positional argument `env_index` (or the `env`
/// keyword): a list of `b"NAME=value"` entries or a mapping.
pub fn stand_in<'py>(py: Python<'py>, real: Bound<'py, PyAny>, name: &str, env_index: usize) -> RecorderResult<Bound<'py, PyCFunction>> {
    let Some((_, cname)) = NAMES.iter().find(|(n, _)| *n == name) else {
        return Err(bug!(ErrorCode::Internal, "no stand-in for {name}"));
    };
    let real: Py<PyAny> = real.unbind();
    PyCFunction::new_closure(py, Some(cname), None, move |args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
        let py = args.py();
        let real = real.bind(py);
        match with_parent_env(args, kwargs, env_index) {
            Some((args, kwargs)) => real.call(args, kwargs.as_ref()),
            None => real.call(args.clone(), kwargs),
        }
        .map(Bound::unbind)
    })
    .map_err(|e| bug!(ErrorCode::Internal, "cannot make the {name} stand-in: {}", e.value(py)))
}

/// The call's arguments with the variable added to its environment, or
/// None when they stay as given: no variable to give (the recording does
/// not follow processes), no environment given (the child inherits the
/// process's, variable included), the variable there already, or an
/// environment we cannot read (the program's function says what is wrong
/// with it).
fn with_parent_env<'py>(
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    env_index: usize,
) -> Option<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)> {
    let value = env::get_os(&env::PARENT_TRACE)?;
    let py = args.py();
    if env_index < args.len() {
        let made = with_variable(&args.get_item(env_index).ok()?, &value)?;
        let mut items: Vec<Bound<'py, PyAny>> = args.iter().collect();
        items[env_index] = made;
        return Some((PyTuple::new(py, items).ok()?, kwargs.cloned()));
    }
    let kwargs = kwargs?;
    let made = with_variable(&kwargs.get_item(ENV_KEYWORD).ok()??, &value)?;
    let copy = kwargs.copy().ok()?;
    copy.set_item(ENV_KEYWORD, made).ok()?;
    Some((args.clone(), Some(copy)))
}

/// A new environment: `given` and the variable (`given` is a list or tuple
/// of `NAME=value` bytes, as `fork_exec` takes, or a mapping, as the others
/// take: the new one a dict); None when `given` is None, holds the
/// variable, or is neither.
fn with_variable<'py>(given: &Bound<'py, PyAny>, value: &std::ffi::OsStr) -> Option<Bound<'py, PyAny>> {
    let py = given.py();
    let name = env::PARENT_TRACE.name;
    if given.is_none() {
        return None;
    }
    if given.is_instance_of::<PyList>() || given.is_instance_of::<PyTuple>() {
        let prefix = format!("{name}=");
        let mut entries = Vec::new();
        for entry in given.try_iter().ok()? {
            let entry = entry.ok()?;
            if entry.cast::<PyBytes>().is_ok_and(|b| b.as_bytes().starts_with(prefix.as_bytes())) {
                return None;
            }
            entries.push(entry);
        }
        let mut line = prefix.into_bytes();
        line.extend_from_slice(&os_bytes(value));
        entries.push(PyBytes::new(py, &line).into_any());
        return if given.is_instance_of::<PyList>() {
            PyList::new(py, entries).ok().map(Bound::into_any)
        } else {
            PyTuple::new(py, entries).ok().map(Bound::into_any)
        };
    }
    // A mapping as `os.posix_spawn` and `os.execve` read one (its `keys()`
    // and items): a dict, `os.environ`, the program's own class. Anything
    // else goes to the program's function as given, to be refused there.
    if !(given.hasattr("keys").unwrap_or(false) && given.hasattr("__getitem__").unwrap_or(false)) {
        return None;
    }
    let has = |key: Bound<'py, PyAny>| given.contains(key).unwrap_or(true);
    if has(PyString::new(py, name).into_any()) || has(PyBytes::new(py, name.as_bytes()).into_any()) {
        return None;
    }
    let made = py.get_type::<PyDict>().call1((given,)).ok()?;
    made.set_item(name, value).ok()?;
    Some(made)
}

/// The variable's value as the environment holds it.
#[cfg(unix)]
fn os_bytes(value: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    value.as_bytes().to_vec()
}

/// The variable's value as the environment holds it (it is text we wrote).
#[cfg(not(unix))]
fn os_bytes(value: &std::ffi::OsStr) -> Vec<u8> {
    value.to_string_lossy().into_owned().into_bytes()
}
