//! Who is on the other end of a loopback TCP connection. A TCP socket carries no
//! credentials, but both ends of a loopback connection are sockets of this host: the
//! client's is the one whose local address is our peer and whose remote address is us,
//! and the kernel's table of TCP sockets (`/proc/net/tcp`, `/proc/net/tcp6`) says which
//! user owns it, as identd reads it.
//!
//! Only a row that says the connection is open counts: `ESTABLISHED`, with the inode of
//! a socket some process still holds. A client that closes at once leaves a row in
//! `FIN_WAIT` or `TIME_WAIT` that no process owns, and the kernel shows uid 0 for it:
//! taken at its word, any local user would pass for root.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The user owning the client socket of the connection `us` (the address we accepted
/// on) ← `peer`; `None` when no open socket of this host matches (the client closed
/// or is closing, or is not on this host).
pub(super) fn tcp_peer_uid(us: SocketAddr, peer: SocketAddr) -> io::Result<Option<u32>> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if let Some(uid) = find_owner(&text, us, peer) {
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

/// The kernel's code for an open TCP connection in the table's `st` column.
const ESTABLISHED: &str = "01";

/// The uid of the line of `table` whose local address is `peer` and remote one `us`,
/// when that socket is established and held by a process (a non-zero inode).
fn find_owner(table: &str, us: SocketAddr, peer: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
        let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let (uid, inode) = (fields.get(7)?, fields.get(9)?);
        let matches = same(parse_address(local)?, peer) && same(parse_address(remote)?, us);
        let open = *state == ESTABLISHED && inode.parse::<u64>().is_ok_and(|inode| inode != 0);
        (matches && open).then(|| uid.parse().ok()).flatten()
    })
}

/// Equal addresses, an IPv4 one and its IPv6-mapped form alike.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

/// `0100007F:1F90`: the address as the kernel's 32-bit words, each printed as a number
/// in the host's byte order, then the port.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(address)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(address.get(index * 8..index * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_real_loopback_client_is_this_user() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        let us = accepted.local_addr().unwrap();
        assert_eq!(
            tcp_peer_uid(us, peer).unwrap(),
            Some(rustix::process::geteuid().as_raw())
        );
        let elsewhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(tcp_peer_uid(us, elsewhere).unwrap(), None);
    }

    #[test]
    fn table_lines_as_the_kernel_writes_them() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:9B15 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 281 1\n";
        let us: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:39701".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(find_owner(table, us, peer), Some(65534));
        }
        // The rows a closed client leaves: no process owns them, and they say uid 0.
        for closed in [
            "   0: 0100007F:9B15 0100007F:1F90 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3\n",
            "   0: 0100007F:9B15 0100007F:1F90 05 00000000:00000000 00:00000000 00000000     0        0 0 1\n",
            "   0: 0100007F:9B15 0100007F:1F90 04 00000000:00000000 00:00000000 00000000     0        0 281 1\n",
            "   0: 0100007F:9B15 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 0 1\n",
        ] {
            let table = format!("  sl  local_address rem_address   st\n{closed}");
            assert_eq!(find_owner(&table, us, peer), None, "{closed}");
        }
        assert_eq!(find_owner(table, peer, us), None);
        assert_eq!(
            parse_address("0000000000000000FFFF00000100007F:0050")
                .map(|a| same(a, "127.0.0.1:80".parse().unwrap())),
            Some(cfg!(target_endian = "little"))
        );
    }
}
