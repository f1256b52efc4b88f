//! `[DEFAULT] user`, `group` and `umask`: who a process launcher's workers run as.
//!
//! The parent stays who it was started as (root, to bind low ports and read its
//! keys); each worker takes the user's uid, the group's gid and the user's
//! supplementary groups (initgroups' list) between fork and exec, before any code of
//! the program runs in it. The names are looked up once, at start, in the parent, so
//! that the forked child only makes system calls. The umask is the whole process
//! tree's, set at start.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::AsFd;
use std::sync::OnceLock;

use crate::config::{Config, ConfigError, InvalidValue, ServiceOptions, Snapshot};

/// The largest umask: every permission bit.
const MAX_UMASK: u32 = 0o777;

/// Who the workers become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups, the primary one among them.
    pub groups: Vec<libc::gid_t>,
}

/// What `[DEFAULT] user`, `group` and `umask` ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `None` when the workers stay who the parent is.
    pub identity: Option<Identity>,
    pub umask: Option<u32>,
}

/// The plan of this process, read once at start.
static PLAN: OnceLock<Plan> = OnceLock::new();

/// Reads the options, looks the names up and applies the umask; refuses what cannot
/// be done (an unknown user or group, another user without root).
pub(crate) fn configure(conf: &Config) -> Result<(), ConfigError> {
    let plan = read(&conf.snapshot())?;
    if let Some(mask) = plan.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    let _ = PLAN.set(plan);
    Ok(())
}

/// Checks the options as a start would, changing nothing (`--check-config`).
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    read(&conf.snapshot()).map(drop)
}

/// Who this process's workers become, if anyone else.
pub(crate) fn workers() -> Option<&'static Identity> {
    PLAN.get().and_then(|plan| plan.identity.as_ref())
}

/// Gives `file`, which this process made for its workers too (the log file), to the
/// workers' user and group, so that they can write it and reopen it.
pub(crate) fn hand_to_workers(file: &impl AsFd) -> io::Result<()> {
    let Some(identity) = workers() else {
        return Ok(());
    };
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    rustix::fs::fchown(
        file,
        Some(rustix::fs::Uid::from_raw(identity.uid)),
        Some(rustix::fs::Gid::from_raw(identity.gid)),
    )?;
    Ok(())
}

/// Becomes `identity`: groups, then group, then user (after the user, nothing else
/// could be changed). Runs between fork and exec: only system calls, no allocation.
pub(crate) fn become_identity(identity: &Identity) -> io::Result<()> {
    // SAFETY: the pointer and length are those of a live vector; the calls only read it.
    // std makes the same calls between fork and exec for `CommandExt::uid`.
    unsafe {
        if libc::setgroups(identity.groups.len(), identity.groups.as_ptr()) != 0
            || libc::setgid(identity.gid) != 0
            || libc::setuid(identity.uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn read(snapshot: &Snapshot) -> Result<Plan, ConfigError> {
    let options = snapshot.group::<ServiceOptions>()?;
    let invalid = |option: &str, value: &str, reason: String| {
        InvalidValue::in_snapshot(snapshot, "DEFAULT", option, value, reason)
    };
    let umask = match &options.umask {
        Some(text) => Some(parse_umask(text).map_err(|reason| invalid("umask", text, reason))?),
        None => None,
    };
    let user = match &options.user {
        Some(name) => Some(lookup_user(name).map_err(|reason| invalid("user", name, reason))?),
        None => None,
    };
    let group = match &options.group {
        Some(name) => Some(lookup_group(name).map_err(|reason| invalid("group", name, reason))?),
        None => None,
    };
    let identity = match (user, group) {
        (None, None) => None,
        (Some(user), group) => {
            let Some(gid) = group.or(user.gid) else {
                let name = options.user.as_deref().unwrap_or_default();
                return Err(invalid(
                    "user",
                    name,
                    "no user has this uid: set group as well".to_owned(),
                ));
            };
            let mut groups = user.groups;
            if !groups.contains(&gid) {
                groups.insert(0, gid);
            }
            Some(Identity {
                uid: user.uid,
                gid,
                groups,
            })
        }
        (None, Some(gid)) => {
            let uid = rustix::process::geteuid().as_raw();
            Some(Identity {
                uid,
                gid,
                groups: vec![gid],
            })
        }
    };
    if let Some(identity) = &identity {
        let euid = rustix::process::geteuid();
        if !euid.is_root() {
            let egid = rustix::process::getegid().as_raw();
            let (option, value) = match (&options.user, &options.group) {
                (Some(user), _) if identity.uid != euid.as_raw() => ("user", user),
                (_, Some(group)) if identity.gid != egid => ("group", group),
                // Already who the workers would become: nothing to change.
                _ => {
                    return Ok(Plan {
                        identity: None,
                        umask,
                    });
                }
            };
            return Err(invalid(
                option,
                value,
                format!(
                    "the service runs as uid {}, not root: only root can run its workers as another user or group",
                    euid.as_raw()
                ),
            ));
        }
    }
    Ok(Plan { identity, umask })
}

/// `0o027`, `027` or `27`: octal digits, at most `777`.
fn parse_umask(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0o")
        .or_else(|| text.strip_prefix("0O"))
        .unwrap_or(text);
    let expected = || "expected an octal mode from 0 to 0o777, such as 0o027".to_owned();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(expected());
    }
    match u32::from_str_radix(digits, 8) {
        Ok(mask) if mask <= MAX_UMASK => Ok(mask),
        _ => Err(expected()),
    }
}

/// A user found in the user database.
struct User {
    uid: u32,
    /// The primary group; `None` for a uid the database does not know.
    gid: Option<u32>,
    groups: Vec<libc::gid_t>,
}

/// `name`, or a number that is taken as a uid (looked up too, for its groups; a uid the
/// database does not know needs `group`).
fn lookup_user(name: &str) -> Result<User, String> {
    let found = match name.trim().parse::<u32>() {
        Ok(uid) => passwd_by_uid(uid),
        Err(_) => passwd_by_name(name.trim()),
    };
    let (uid, gid, login) = match (found, name.trim().parse::<u32>()) {
        (Ok(Some(found)), _) => found,
        // A uid of its own (a container's, say): no groups but the one given.
        (Ok(None), Ok(uid)) => {
            return Ok(User {
                uid,
                gid: None,
                groups: Vec::new(),
            });
        }
        (Ok(None), Err(_)) => return Err("no such user".to_owned()),
        (Err(err), _) => return Err(format!("cannot look the user up: {err}")),
    };
    let groups = group_list(&login, gid).map_err(|err| format!("cannot list its groups: {err}"))?;
    Ok(User {
        uid,
        gid: Some(gid),
        groups,
    })
}

/// `name`, or a number that is taken as a gid as it is.
fn lookup_group(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.trim().parse::<u32>() {
        return Ok(gid);
    }
    let name = CString::new(name.trim()).map_err(|_| "no such group".to_owned())?;
    let mut entry: libc::group = unsafe_zeroed_group();
    let mut result: *mut libc::group = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 1 << 14];
    // SAFETY: every pointer is to a live value of the right type; the buffer's length
    // is its own.
    let code = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    match (code, result.is_null()) {
        (0, false) => Ok(entry.gr_gid),
        (0, true) => Err("no such group".to_owned()),
        (code, _) => Err(format!(
            "cannot look the group up: {}",
            io::Error::from_raw_os_error(code)
        )),
    }
}

fn unsafe_zeroed_group() -> libc::group {
    // SAFETY: `group` is plain C data (integers and pointers); all zeroes is valid.
    unsafe { std::mem::zeroed() }
}

fn passwd_by_name(name: &str) -> io::Result<Option<(u32, u32, CString)>> {
    let Ok(name) = CString::new(name) else {
        return Ok(None);
    };
    passwd(|entry, buffer, result| {
        // SAFETY: as in `passwd`: live values, the buffer's own length.
        unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                result,
            )
        }
    })
}

fn passwd_by_uid(uid: u32) -> io::Result<Option<(u32, u32, CString)>> {
    passwd(|entry, buffer, result| {
        // SAFETY: as in `passwd`: live values, the buffer's own length.
        unsafe { libc::getpwuid_r(uid, entry, buffer.as_mut_ptr(), buffer.len(), result) }
    })
}

/// One look-up in the user database: uid, primary gid and login name.
fn passwd(
    call: impl FnOnce(&mut libc::passwd, &mut [libc::c_char], &mut *mut libc::passwd) -> libc::c_int,
) -> io::Result<Option<(u32, u32, CString)>> {
    // SAFETY: `passwd` is plain C data (integers and pointers); all zeroes is valid.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 1 << 14];
    let code = call(&mut entry, &mut buffer, &mut result);
    if code != 0 {
        return Err(io::Error::from_raw_os_error(code));
    }
    if result.is_null() {
        return Ok(None);
    }
    // SAFETY: a successful look-up leaves `pw_name` pointing at a string in `buffer`,
    // which is still alive.
    let login = unsafe { CStr::from_ptr(entry.pw_name) }.to_owned();
    Ok(Some((entry.pw_uid, entry.pw_gid, login)))
}

/// The groups `login` belongs to, `gid` among them: what initgroups(3) would set.
fn group_list(login: &CStr, gid: u32) -> io::Result<Vec<libc::gid_t>> {
    // A bound on what the kernel takes (NGROUPS_MAX is 65536).
    const MOST: libc::c_int = 65_536;
    let mut count: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; usize::try_from(count).unwrap_or(0)];
        let mut found = count;
        // SAFETY: `groups` holds `found` entries; getgrouplist writes at most that many
        // and says in `found` how many it needed.
        let code =
            unsafe { libc::getgrouplist(login.as_ptr(), gid, groups.as_mut_ptr(), &mut found) };
        if code >= 0 {
            groups.truncate(usize::try_from(found).unwrap_or(0));
            return Ok(groups);
        }
        if found <= count || found > MOST {
            return Err(io::Error::other("too many groups"));
        }
        count = found;
    }
}

#[cfg(test)]
mod tests {
    use super::{lookup_group, lookup_user, parse_umask};

    #[test]
    fn umasks_are_octal_with_or_without_a_prefix() {
        assert_eq!(parse_umask("0o027"), Ok(0o027));
        assert_eq!(parse_umask("027"), Ok(0o027));
        assert_eq!(parse_umask(" 0022 "), Ok(0o022));
        assert_eq!(parse_umask("0"), Ok(0));
        assert_eq!(parse_umask("777"), Ok(0o777));
        for bad in [
            "",
            "0o",
            "8",
            "0x1f",
            "1000",
            "0o0777x",
            "-1",
            "99999999999",
        ] {
            assert!(parse_umask(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_is_found_by_name_and_number_and_an_unknown_user_is_not() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, Some(0)));
        assert!(root.groups.contains(&0));
        assert_eq!(lookup_user("0").unwrap().uid, 0);
        assert_eq!(lookup_group("root"), Ok(0));
        assert!(lookup_user("no-such-user-of-oslo").is_err());
        assert!(lookup_group("no-such-group-of-oslo").is_err());
    }
}
