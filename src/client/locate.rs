//! Where the running daemon listens, and whether its address file may be
//! believed.
//!
//! The address is where `grantd creds` sends the token and where the shell
//! lines of `grantd env` point every SDK, so a planted or rewritten address
//! file must not move it off this host.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use grantd_common::fs::{self, Owners, PathError, Readers};

use super::{ClientError, Daemon, Trust};
use crate::config::Settings;

/// Longest address file read: a `host:port` is far shorter.
const MAX_ADDR_FILE_LEN: u64 = 256;

/// The daemon as a client should dial it, and whom it may find there.
///
/// With an address file configured (`--addr-file`, `GRANTD_ADDR_FILE`),
/// the address is the file's, and a missing file is an error, never a
/// reason to dial `--listen` instead: the daemon removes the file when it
/// stops, and whatever holds the port then is not grantd. The file is
/// believed only when it and its directory are this user's or root's and
/// nobody else can write them, and only for a loopback address unless
/// remote addresses are allowed (`--allow-remote`, `GRANTD_ALLOW_REMOTE`).
/// `--listen` is the user's own word: the configuration already refused a
/// remote one without `--allow-remote`. Whoever listens at a loopback
/// address must be this user or root ([`Trust`]); a remote daemon cannot be
/// checked that way, and is the user's choice.
pub fn daemon(settings: &Settings) -> Result<Daemon, ClientError> {
    let addr = daemon_addr_as(settings, fs::own_uid())?;
    let local = addr.ip().to_canonical().is_loopback();
    Ok(Daemon {
        addr,
        trust: (local || !settings.server.allow_remote).then(|| Trust::of(settings)),
    })
}

fn daemon_addr_as(settings: &Settings, uid: u32) -> Result<SocketAddr, ClientError> {
    let mut addr = match &settings.files.addr_file {
        Some(path) => only_loopback(
            path,
            read_addr_file(path, uid)?,
            settings.server.allow_remote,
        )?,
        None => settings.server.listen,
    };
    if addr.port() == 0 {
        return Err(ClientError::PortZero);
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Ok(addr)
}

/// The address in the file, refused when the file is not trustworthy.
fn read_addr_file(path: &Path, uid: u32) -> Result<SocketAddr, ClientError> {
    let unreadable = |source| ClientError::NoAddrFile {
        path: path.to_path_buf(),
        source,
    };
    let io = |source| PathError::Inspect {
        path: path.to_path_buf(),
        source,
    };
    let file = match fs::open_trusted(path, Owners::or_root(uid), Readers::Anyone) {
        Ok(Some(file)) => file,
        Ok(None) => return Err(unreadable(io(std::io::ErrorKind::NotFound.into()))),
        Err(source @ PathError::Unsafe { .. }) => {
            return Err(ClientError::UntrustedAddrFile {
                path: path.to_path_buf(),
                source,
            });
        }
        Err(source) => return Err(unreadable(source)),
    };
    let mut text = String::new();
    file.take(MAX_ADDR_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(|source| unreadable(io(source)))?;
    text.trim()
        .parse()
        .map_err(|source| ClientError::BadAddrFile {
            path: path.to_path_buf(),
            source,
        })
}

/// `addr` when it is on loopback (or unspecified, which is dialled as
/// loopback), or when remote addresses are allowed.
fn only_loopback(
    path: &Path,
    addr: SocketAddr,
    allow_remote: bool,
) -> Result<SocketAddr, ClientError> {
    let ip = addr.ip().to_canonical();
    if allow_remote || ip.is_loopback() || ip.is_unspecified() {
        return Ok(addr);
    }
    Err(ClientError::RemoteAddr {
        path: path.to_path_buf(),
        addr,
    })
}

#[cfg(test)]
#[path = "locate_tests.rs"]
mod tests;
