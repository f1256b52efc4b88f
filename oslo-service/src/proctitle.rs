//! Process titles, as oslo.service sets them (through cotyledon and setproctitle): the
//! parent of a `ProcessLauncher` shows `<program>: master process [<command line>]`,
//! each worker `<program>: <service> worker(<index>)`, in `ps` and
//! `/proc/<pid>/cmdline`. The title's first 15 bytes also become the process's name
//! (`/proc/<pid>/comm`, what `top` shows), as setproctitle does.
//!
//! The kernel shows the memory the program's arguments were in, and the environment's
//! strings after them when a title runs past the arguments. [`prepare`] runs at the
//! entry, while the process has one thread: it copies every argument and environment
//! string to the heap and points the argument and environment arrays at the copies. From
//! then on `std::env::args_os` and `std::env::var` read the copies, and the original
//! strings are free to be written over. When the arrays are not where the kernel put
//! them (a library that set a variable before `main`), titles stay off.

use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The most of a title the process's name keeps: the kernel's 16 bytes, NUL included.
const NAME_LEN: usize = 15;

/// How far below the first argument string the kernel's environment array may start:
/// the environment array's own pointers, then the auxiliary vector, the random bytes
/// and the platform's name. An array the C library moved to the heap is much farther.
const AUXILIARY_SPAN: usize = 64 * 1024;

/// Why a process cannot show titles.
#[derive(Debug, thiserror::Error)]
enum Off {
    /// `/proc/self/stat` cannot be read.
    #[error("cannot read /proc/self/stat: {0}")]
    Stat(std::io::Error),
    /// It has no addresses of the arguments and environment (a kernel before 3.5).
    #[error("/proc/self/stat names no argument and environment addresses")]
    StatFields,
    /// The environment array is not the one the kernel made.
    #[error("the environment array is not the kernel's")]
    Environ,
    /// The argument array is not right below the environment array.
    #[error("the argument array is not where the kernel put it")]
    Argv,
}

/// The original strings of the arguments and the environment, which nothing reads any
/// more: what the kernel shows as the command line.
struct Area {
    start: NonNull<u8>,
    len: usize,
}

// SAFETY: the area is memory of the process's initial stack that no other pointer
// reaches once `prepare` has moved the arrays to copies; it is only written under the
// mutex around it, from whichever thread.
unsafe impl Send for Area {}

/// The area, or why there is none; unset in a program `#[oslo::main]` did not start.
static AREA: OnceLock<Result<Mutex<Area>, Off>> = OnceLock::new();

/// Moves the arguments and the environment to copies, so that the original area can
/// take titles.
///
/// # Safety
///
/// No other thread may read or write the environment or the arguments while this
/// runs, and no pointer into their strings may be kept from before: call it first thing
/// in `main`, before any runtime exists (std copies the strings on every read).
pub(crate) unsafe fn prepare() {
    // SAFETY: the caller's promise.
    let area = unsafe { claim() };
    let _ = AREA.set(area.map(Mutex::new));
}

/// Says at debug level why titles are off, once logging is set up.
pub(crate) fn report() {
    if let Some(Err(off)) = AREA.get() {
        tracing::debug!(reason = %off, "process titles are off");
    }
}

/// Shows this process as the parent of workers.
pub(crate) fn set_master() {
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    set(&master_title(&args));
}

/// Shows this process as worker `index` (from 0) of `service`.
pub(crate) fn set_worker(service: &str, index: usize) {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    set(&worker_title(&arg0.to_string_lossy(), service, index));
}

/// `<program>: master process [<every argument, space-separated>]`.
fn master_title(args: &[String]) -> String {
    let program = args.first().map_or("", |arg0| program(arg0));
    format!("{program}: master process [{}]", args.join(" "))
}

/// `<program>: <service> worker(<index>)`.
fn worker_title(arg0: &str, service: &str, index: usize) -> String {
    format!("{}: {service} worker({index})", program(arg0))
}

/// What follows the last `/` of the program's path, as Python's `os.path.basename`.
fn program(arg0: &str) -> &str {
    arg0.rsplit('/').next().unwrap_or(arg0)
}

/// Writes `title` over the area and names the process after it; nothing when titles
/// are off.
fn set(title: &str) {
    let Some(Ok(area)) = AREA.get() else {
        return;
    };
    let area = area.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: the area is `len` bytes of the original strings, which `prepare` left
    // unreachable but through it; the lock held makes this the only reference.
    let bytes = unsafe { std::slice::from_raw_parts_mut(area.start.as_ptr(), area.len) };
    fill(bytes, title.as_bytes());
    drop(area);
    // The main thread's name is the process's: written through /proc, it is renamed
    // from whichever thread sets the title (prctl would rename the calling thread).
    if let Err(err) = std::fs::write("/proc/self/comm", name(title)) {
        tracing::debug!(error = %err, "cannot set the process's name");
    }
}

/// `title` at the start of `area`, cut to leave one NUL at least, then NULs: the
/// kernel shows up to the first NUL once the arguments' last byte is no longer one.
fn fill(area: &mut [u8], title: &[u8]) {
    let title = title.split(|&byte| byte == 0).next().unwrap_or_default();
    let shown = title.len().min(area.len().saturating_sub(1));
    let (head, tail) = area.split_at_mut(shown);
    head.copy_from_slice(&title[..shown]);
    tail.fill(0);
}

/// The title's first 15 bytes, cut at a character's boundary.
fn name(title: &str) -> &str {
    let mut end = title.len().min(NAME_LEN);
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    &title[..end]
}

/// Where the kernel put the arguments' strings and where the environment's end, from
/// `/proc/self/stat` (fields 48 and 51).
struct Stack {
    arg_start: usize,
    env_end: usize,
}

impl Stack {
    fn read() -> Result<Stack, Off> {
        let stat = std::fs::read_to_string("/proc/self/stat").map_err(Off::Stat)?;
        // The fields after the command, which may hold spaces and parentheses, start
        // at the third.
        let (_, rest) = stat.rsplit_once(')').ok_or(Off::StatFields)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |number: usize| -> Result<usize, Off> {
            fields
                .get(number - 3)
                .and_then(|text| text.parse().ok())
                .ok_or(Off::StatFields)
        };
        Ok(Stack {
            arg_start: field(48)?,
            env_end: field(51)?,
        })
    }
}

// glibc's copies of `argv[0]` and its last part, for `error(3)` and `err(3)`: moved with
// the arguments, or they would print a title.
#[cfg(target_env = "gnu")]
unsafe extern "C" {
    static mut program_invocation_name: *mut c_char;
    static mut program_invocation_short_name: *mut c_char;
}

/// Finds the kernel's argument array, checks it, moves every string to a copy and
/// returns the area of the originals that lie end to end from `argv[0]`.
///
/// # Safety
///
/// As [`prepare`].
unsafe fn claim() -> Result<Area, Off> {
    let stack = Stack::read()?;
    let argc = std::env::args_os().len();
    // SAFETY: the caller promises that no other thread writes `environ` now.
    let environ = unsafe { libc::environ };
    if environ.is_null() {
        return Err(Off::Environ);
    }
    // SAFETY: `environ` is the C library's array, ended by a null pointer.
    let envc = unsafe { count(environ) };
    // The kernel's environment array lies right below the strings, after the argument
    // array and its null: checked by distance before any pointer below it is read.
    let arrays = envc
        .checked_add(1)
        .and_then(|n| n.checked_mul(size_of::<*mut c_char>()))
        .ok_or(Off::Environ)?;
    let below = stack
        .arg_start
        .checked_sub(environ as usize)
        .ok_or(Off::Environ)?;
    if below < arrays || below - arrays > AUXILIARY_SPAN || argc == 0 {
        return Err(Off::Environ);
    }
    // SAFETY: `environ` is the kernel's array on the initial stack (checked above), which
    // the kernel starts with argc, then argc argument pointers and a null: all mapped.
    let argv = unsafe { environ.sub(argc + 1) };
    // SAFETY: `argv` points at `argc + 1` pointers of the initial stack, as above.
    let (last, first) = unsafe { (*argv.add(argc), *argv) };
    if !last.is_null() || first as usize != stack.arg_start {
        return Err(Off::Argv);
    }
    // The strings the kernel laid end to end from `argv[0]`, up to the environment's
    // end: a string moved or dropped before now ends the area.
    let mut end = stack.arg_start;
    // SAFETY: both arrays hold that many valid pointers to NUL-terminated strings.
    let strings = unsafe { pointers(argv, argc).chain(pointers(environ, envc)) };
    for string in strings {
        if string as usize != end {
            break;
        }
        // SAFETY: each pointer is a NUL-terminated string, as above.
        let len = unsafe { CStr::from_ptr(string) }.count_bytes() + 1;
        match end.checked_add(len) {
            Some(next) if next <= stack.env_end => end = next,
            _ => break,
        }
    }
    // SAFETY: as above, and no other thread reads the arrays while they change.
    unsafe {
        #[cfg(target_env = "gnu")]
        let short_offset = (program_invocation_short_name as usize).checked_sub(first as usize);
        move_to_copies(argv, argc);
        move_to_copies(environ, envc);
        #[cfg(target_env = "gnu")]
        if program_invocation_name == first {
            let moved = *argv;
            program_invocation_name = moved;
            let len = CStr::from_ptr(moved).count_bytes();
            if let Some(offset) = short_offset.filter(|&offset| offset <= len) {
                program_invocation_short_name = moved.add(offset);
            }
        }
    }
    let start = NonNull::new(first.cast::<u8>()).ok_or(Off::Argv)?;
    Ok(Area {
        start,
        len: end - stack.arg_start,
    })
}

/// How many pointers come before the null that ends `array`.
///
/// # Safety
///
/// `array` is a valid array of pointers ended by a null one.
unsafe fn count(array: *mut *mut c_char) -> usize {
    let mut n = 0;
    // SAFETY: the null that ends the array is read before anything past it.
    while !unsafe { *array.add(n) }.is_null() {
        n += 1;
    }
    n
}

/// The first `n` pointers of `array`.
///
/// # Safety
///
/// `array` holds at least `n` pointers, unchanged while the iterator is used.
unsafe fn pointers(array: *mut *mut c_char, n: usize) -> impl Iterator<Item = *mut c_char> {
    // SAFETY: `i < n`, within the array, as the caller promises.
    (0..n).map(move |i| unsafe { *array.add(i) })
}

/// Points each of the first `n` pointers of `array` at a copy of its string on the
/// heap, kept for the process's life.
///
/// # Safety
///
/// As [`pointers`], each a NUL-terminated string, and nothing else reads or writes the
/// array meanwhile.
unsafe fn move_to_copies(array: *mut *mut c_char, n: usize) {
    for i in 0..n {
        // SAFETY: `i < n`, within the array; its string is NUL-terminated.
        unsafe {
            let slot = array.add(i);
            *slot = CString::from(CStr::from_ptr(*slot)).into_raw();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fill, master_title, name, worker_title};

    #[test]
    fn the_parent_shows_its_program_and_whole_command_line() {
        let args = ["/usr/bin/nova-api", "--config-file", "/etc/nova/nova.conf"].map(String::from);
        assert_eq!(
            master_title(&args),
            "nova-api: master process [/usr/bin/nova-api --config-file /etc/nova/nova.conf]"
        );
        assert_eq!(
            master_title(&["api".to_owned()]),
            "api: master process [api]"
        );
        assert_eq!(master_title(&[]), ": master process []");
    }

    #[test]
    fn a_worker_shows_its_program_service_and_index() {
        assert_eq!(
            worker_title("/usr/bin/nova-api", "osapi_compute", 0),
            "nova-api: osapi_compute worker(0)"
        );
        assert_eq!(worker_title("./api", "api", 3), "api: api worker(3)");
        // os.path.basename's answer for a path ending in a slash.
        assert_eq!(worker_title("dir/", "api", 1), ": api worker(1)");
    }

    #[test]
    fn the_title_is_padded_with_nuls_and_cut_to_leave_one() {
        let mut area = *b"/bin/api\0--flag\0";
        fill(&mut area, b"api: x");
        assert_eq!(&area, b"api: x\0\0\0\0\0\0\0\0\0\0");
        let mut area = *b"abcdef";
        fill(&mut area, b"a longer title");
        assert_eq!(&area, b"a lon\0");
        let mut area = *b"abcdef";
        fill(&mut area, b"ab\0cd");
        assert_eq!(&area, b"ab\0\0\0\0");
    }

    #[test]
    fn the_name_is_the_first_fifteen_bytes_on_a_character_boundary() {
        assert_eq!(name("api: master process [api]"), "api: master pro");
        assert_eq!(name("api"), "api");
        assert_eq!(name("api: service é"), "api: service é");
        assert_eq!(name("api: servicesxé"), "api: servicesx");
    }
}
