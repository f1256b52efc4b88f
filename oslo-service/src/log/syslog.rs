//! `use_syslog`: every line also goes to the local syslog daemon, one datagram on
//! `/dev/log` per line in the form syslog(3) sends, `<PRI>ident[pid]: line` (the daemon
//! adds the time and host). `syslog_log_facility` names the facility as oslo.log takes
//! it: `LOG_USER`, `LOG_LOCAL0`, … or `user`, `local0`, ….
//!
//! The socket is non-blocking: a daemon that does not keep up loses lines rather than
//! stalling the service. Each line is sent to the path, not over a connection made
//! once, so that a restarted daemon gets the next line.

use std::io;
use std::os::unix::net::UnixDatagram;

use tracing::Level;

/// Where syslog(3) sends, and where oslo.log's handler does.
pub(crate) const SYSLOG_PATH: &str = "/dev/log";

/// The facilities by the names oslo.log accepts (its `LOG_*` constants and the lower-case
/// names of Python's `SysLogHandler`), with their codes.
const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// The code of facility `name`; for an unknown name, the error lists the known ones.
pub(crate) fn facility(name: &str) -> Result<u8, String> {
    let bare = name
        .strip_prefix("LOG_")
        .map_or_else(|| name.to_owned(), |upper| upper.to_ascii_lowercase());
    FACILITIES
        .iter()
        .find(|(known, _)| *known == bare)
        .map(|&(_, code)| code)
        .ok_or_else(|| {
            let names: Vec<String> = FACILITIES
                .iter()
                .map(|(known, _)| format!("LOG_{}", known.to_ascii_uppercase()))
                .collect();
            format!("syslog facility must be one of: {}", names.join(", "))
        })
}

/// The syslog daemon's socket, with the facility and the program's name.
#[derive(Debug)]
pub(crate) struct Syslog {
    socket: UnixDatagram,
    facility: u8,
    ident: String,
}

impl Syslog {
    /// Checks that a daemon listens at [`SYSLOG_PATH`] (as oslo.log's handler does when
    /// it is set up: a full queue counts as listening) and keeps a socket to send to it.
    pub(crate) fn open(facility: u8, ident: &str) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        match socket.send_to(&[], SYSLOG_PATH) {
            // A daemon that is there but behind is there.
            Err(err) if err.kind() != io::ErrorKind::WouldBlock => return Err(err),
            _ => {}
        }
        Ok(Syslog {
            socket,
            facility,
            ident: ident.to_owned(),
        })
    }

    /// Sends `line` (its final newline dropped) at the priority of `level`.
    pub(crate) fn send(&self, level: Level, line: &[u8]) {
        let datagram = self.datagram(level, line);
        // Lines are dropped when the daemon is gone or does not keep up: see the module.
        let _ = self.socket.send_to(&datagram, SYSLOG_PATH);
    }

    fn datagram(&self, level: Level, line: &[u8]) -> Vec<u8> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let priority = u32::from(self.facility) * 8 + severity(level);
        let head = format!("<{priority}>{}[{}]: ", self.ident, std::process::id());
        let mut datagram = Vec::with_capacity(head.len() + line.len());
        datagram.extend_from_slice(head.as_bytes());
        datagram.extend_from_slice(line);
        datagram
    }
}

/// The syslog severity oslo.log gives each level (Python's ERROR is `err`, WARNING
/// `warning`, INFO `info`, DEBUG `debug`).
fn severity(level: Level) -> u32 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_by_either_spelling() {
        assert_eq!(facility("LOG_USER"), Ok(1));
        assert_eq!(facility("local3"), Ok(19));
        assert_eq!(facility("LOG_LOCAL7"), Ok(23));
        let err = facility("LOG_NOPE").unwrap_err();
        assert!(
            err.starts_with("syslog facility must be one of: LOG_KERN, LOG_USER"),
            "{err}"
        );
        assert!(facility("USER").is_err());
    }

    #[test]
    fn a_line_as_syslog_3_sends_it() {
        let syslog = Syslog {
            socket: UnixDatagram::unbound().unwrap(),
            facility: 19,
            ident: "svc".to_owned(),
        };
        let sent = syslog.datagram(Level::WARN, b"a line\n");
        let expected = format!("<156>svc[{}]: a line", std::process::id());
        assert_eq!(String::from_utf8(sent).unwrap(), expected);
    }
}
