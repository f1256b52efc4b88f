//! The server's socket: bound (or inherited) through [`crate::net`] when the server is
//! built, then accepted on by each start; accepted TCP sockets get `tcp_keepidle`.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

/// Where a server listens.
#[derive(Debug)]
pub(super) enum Bound {
    Tcp(std::net::TcpListener, SocketAddr),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

/// A UNIX socket file and the permissions it gets.
#[derive(Debug, Clone)]
pub(super) struct UnixSocket {
    pub(super) path: PathBuf,
    pub(super) mode: u32,
}

impl Bound {
    /// Binds (or takes the inherited socket named `name`).
    pub(super) fn bind(
        name: &str,
        host: &str,
        port: u16,
        backlog: u32,
        unix: Option<&UnixSocket>,
    ) -> io::Result<Self> {
        match unix {
            Some(unix) => {
                let listener = crate::net::listen_unix(name, &unix.path, unix.mode, backlog)?;
                Ok(Bound::Unix(listener, unix.path.clone()))
            }
            None => {
                let listener = crate::net::listen_with_backlog(name, (host, port), backlog)?;
                let addr = listener.local_addr()?;
                Ok(Bound::Tcp(listener, addr))
            }
        }
    }

    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(_, addr) => Some(*addr),
            Bound::Unix(..) => None,
        }
    }

    pub(super) fn socket_path(&self) -> Option<&Path> {
        match self {
            Bound::Tcp(..) => None,
            Bound::Unix(_, path) => Some(path),
        }
    }

    /// A tokio listener on a new descriptor of the socket, for one start.
    pub(super) fn accepting(&self) -> io::Result<Accepting> {
        match self {
            Bound::Tcp(listener, _) => {
                let listener = listener.try_clone()?;
                listener.set_nonblocking(true)?;
                Ok(Accepting::Tcp(tokio::net::TcpListener::from_std(listener)?))
            }
            Bound::Unix(listener, _) => {
                let listener = listener.try_clone()?;
                listener.set_nonblocking(true)?;
                Ok(Accepting::Unix(tokio::net::UnixListener::from_std(
                    listener,
                )?))
            }
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Tcp(_, addr) => write!(f, "{addr}"),
            Bound::Unix(_, path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The listener of one started server. Dropping it stops this process accepting; the
/// socket stays open for the others that share it.
pub(super) enum Accepting {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// An accepted client.
pub(super) enum Accepted {
    Tcp(TcpStream, IpAddr),
    Unix(UnixStream),
}

impl Accepted {
    /// Waits until the client has sent something (or hung up), without reading it: a
    /// readiness alone may be stale, so a byte is peeked at to be sure.
    pub(super) async fn first_byte(&self) -> io::Result<()> {
        match self {
            Accepted::Tcp(stream, _) => peek_until_data(stream).await,
            Accepted::Unix(stream) => peek_until_data(stream).await,
        }
    }
}

/// A stream tokio watches for readiness.
trait Readable: std::os::fd::AsFd {
    fn readable_now(&self) -> impl Future<Output = io::Result<()>>;
    fn try_io_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl Readable for TcpStream {
    fn readable_now(&self) -> impl Future<Output = io::Result<()>> {
        self.readable()
    }
    fn try_io_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::READABLE, f)
    }
}

impl Readable for UnixStream {
    fn readable_now(&self) -> impl Future<Output = io::Result<()>> {
        self.readable()
    }
    fn try_io_read<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::READABLE, f)
    }
}

async fn peek_until_data<S: Readable>(stream: &S) -> io::Result<()> {
    loop {
        stream.readable_now().await?;
        let mut byte = [0u8; 1];
        let peeked = stream.try_io_read(|| {
            rustix::net::recv(
                stream.as_fd(),
                &mut byte,
                rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
            )
            .map_err(io::Error::from)
        });
        match peeked {
            // A byte, or the end of the stream: either way, hyper has something to see.
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
}

impl Accepting {
    pub(super) async fn accept(&self, tcp_keepidle: Duration) -> io::Result<Accepted> {
        match self {
            Accepting::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                // A response written in more than one segment (a streamed body, TLS
                // records) must not wait for the client's ACK of the first: nginx and
                // Go's server set it too.
                let _ = stream.set_nodelay(true);
                if let Err(err) = keep_alive(&stream, tcp_keepidle) {
                    tracing::debug!(error = %err, "cannot set TCP keep-alive on a client socket");
                }
                Ok(Accepted::Tcp(stream, peer.ip()))
            }
            Accepting::Unix(listener) => Ok(Accepted::Unix(listener.accept().await?.0)),
        }
    }
}

/// TCP keep-alive probes after `idle` without traffic, as oslo.service sets them.
pub(super) fn keep_alive(stream: &TcpStream, idle: Duration) -> rustix::io::Result<()> {
    rustix::net::sockopt::set_socket_keepalive(stream, true)?;
    rustix::net::sockopt::set_tcp_keepidle(stream, idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_probe_after_tcp_keepidle() {
        let bound = Bound::bind("keepidle-test", "127.0.0.1", 0, 8, None).unwrap();
        let accepting = bound.accepting().unwrap();
        let addr = bound.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let Accepted::Tcp(stream, peer) = accepting.accept(Duration::from_secs(42)).await.unwrap()
        else {
            panic!("a TCP listener accepted something else");
        };
        assert!(peer.is_loopback());
        assert!(rustix::net::sockopt::socket_keepalive(&stream).unwrap());
        assert_eq!(
            rustix::net::sockopt::tcp_keepidle(&stream).unwrap(),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn a_unix_socket_gets_its_mode_and_replaces_a_stale_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        // A socket file whose listener is gone. Bound but never listening: a process
        // that a test elsewhere forks at that moment may hold the descriptor until its
        // exec, and must not make it look alive.
        let stale = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            None,
        )
        .unwrap();
        rustix::net::bind(&stale, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
        drop(stale);
        let unix = UnixSocket {
            path: path.clone(),
            mode: 0o640,
        };
        let bound = Bound::bind("unix-test", "", 0, 8, Some(&unix)).unwrap();
        assert_eq!(bound.to_string(), format!("unix:{}", path.display()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        std::os::unix::net::UnixStream::connect(&path).unwrap();
        // A live socket is not taken over.
        let error = Bound::bind("unix-test-2", "", 0, 8, Some(&unix)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_file_that_is_no_socket_is_left_alone_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        std::fs::write(&path, "data").unwrap();
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        for (name, at) in [("unix-file", &path), ("unix-link", &link)] {
            let unix = UnixSocket {
                path: at.clone(),
                mode: 0o600,
            };
            let error = Bound::bind(name, "", 0, 8, Some(&unix)).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("{} exists and is not a socket", at.display())),
                "{error}"
            );
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn backlog_zero_is_refused() {
        let error = Bound::bind("backlog-test", "127.0.0.1", 0, 0, None).unwrap_err();
        assert!(error.to_string().contains("at least 1"), "{error}");
    }
}
