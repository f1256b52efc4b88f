//! The console's listeners when oslo-service is built without its `console` feature:
//! none. `backdoor_port` and `backdoor_socket` are refused when read (see
//! `Address::read`), so these are reached only if that check is bypassed.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Views;
use super::address::PortRange;
use crate::error::{Error, Result};
use crate::net::SocketFile;

fn refused() -> Error {
    Error::Launch(super::address::WITHOUT_CONSOLE.to_owned())
}

/// Refuses: no console in this build.
pub(super) fn tcp(
    _range: PortRange,
    _views: &Arc<Views>,
    _stop: &CancellationToken,
) -> Result<u16> {
    Err(refused())
}

/// Refuses: no console in this build.
pub(super) fn unix(
    _path: &std::path::Path,
    _views: &Arc<Views>,
    _stop: &CancellationToken,
) -> Result<SocketFile> {
    Err(refused())
}
