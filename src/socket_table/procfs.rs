//! The socket table as `/proc/net/tcp` and `/proc/net/tcp6` print it, for
//! hosts where netlink is filtered. A read costs in proportion to the whole
//! table (every socket of the network namespace), so [`find_many`] answers
//! many lookups from one pass, and stops reading as soon as it has found
//! every row it was asked for.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};

use super::{Socket, State};

const TCP: &str = "/proc/net/tcp";
const TCP6: &str = "/proc/net/tcp6";
/// Bytes read from a table at a time: the kernel formats about this much
/// per read, so a scan that stops early spares the rest of the table.
const READ_BYTES: usize = 32 * 1024;

/// The socket whose local end is `local` and remote end is `remote`.
/// `NotFound` when no row matches.
pub fn find(local: SocketAddr, remote: SocketAddr) -> io::Result<Socket> {
    find_many(&[(local, remote)])?
        .pop()
        .flatten()
        .ok_or_else(|| io::ErrorKind::NotFound.into())
}

/// Each `(local, remote)` socket of `wanted`, `None` where no row matches,
/// from one pass over each table. An IPv4 socket is in `tcp`, or in `tcp6`
/// with v4-mapped addresses when it is a dual-stack socket; an IPv6 one is
/// in `tcp6`.
pub fn find_many(wanted: &[(SocketAddr, SocketAddr)]) -> io::Result<Vec<Option<Socket>>> {
    let mut found = vec![None; wanted.len()];
    for (table, v6) in [(TCP, false), (TCP6, true)] {
        let mut keys: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (i, (local, remote)) in wanted.iter().enumerate() {
            let v4 = local.ip().to_canonical().is_ipv4();
            if found[i].is_none() && (v6 || v4) {
                keys.entry(row_key(*local, *remote, v6))
                    .or_default()
                    .push(i);
            }
        }
        if keys.is_empty() {
            continue;
        }
        scan(table, |row| {
            if let Some(indices) = keys.remove(row.key) {
                for i in indices {
                    found[i] = Some(row.socket);
                }
            }
            keys.is_empty()
        })?;
    }
    Ok(found)
}

/// The listener a connection to `local` reaches: one bound to `local`
/// itself, else one bound to the unspecified address on its port.
/// `NotFound` when none listens there.
pub fn find_listener(local: SocketAddr) -> io::Result<Socket> {
    let ip = local.ip().to_canonical();
    let mut wildcard = None;
    for (table, v6) in [(TCP, false), (TCP6, true)] {
        if !v6 && ip.is_ipv6() {
            continue;
        }
        let exact = proc_address(ip, local.port(), v6);
        let any_v4 = proc_address(IpAddr::from([0u8; 4]), local.port(), v6);
        let any_v6 = proc_address(IpAddr::from([0u16; 8]), local.port(), v6);
        let mut exact_found = None;
        scan(table, |row| {
            if row.socket.state != State::LISTEN {
                return false;
            }
            let bound = row.local();
            if bound == exact.as_bytes() {
                exact_found = Some(row.socket);
                return true;
            }
            if wildcard.is_none() && (bound == any_v4.as_bytes() || bound == any_v6.as_bytes()) {
                wildcard = Some(row.socket);
            }
            false
        })?;
        if let Some(socket) = exact_found {
            return Ok(socket);
        }
    }
    wildcard.ok_or_else(|| io::ErrorKind::NotFound.into())
}

/// One row of a table, borrowed from the line being read.
struct Row<'a> {
    /// `LOCAL REMOTE`, the two addresses as printed, one space between.
    key: &'a [u8],
    socket: Socket,
}

impl Row<'_> {
    fn local(&self) -> &[u8] {
        self.key.split(|b| *b == b' ').next().unwrap_or_default()
    }
}

/// Calls `each` with every row of `table` until it returns true. A table
/// that does not exist (a kernel without IPv6) has no rows.
fn scan(table: &str, mut each: impl FnMut(&Row) -> bool) -> io::Result<()> {
    let file = match File::open(table) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut lines = BufReader::with_capacity(READ_BYTES, file);
    let mut line = Vec::with_capacity(256);
    let mut key = Vec::with_capacity(80);
    lines.read_until(b'\n', &mut line)?; // the header
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if let Some(socket) = parse_row(&line, &mut key)
            && each(&Row { key: &key, socket })
        {
            return Ok(());
        }
    }
}

/// The socket of one row, its two addresses written to `key`.
/// `sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`
fn parse_row(line: &[u8], key: &mut Vec<u8>) -> Option<Socket> {
    let mut fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let (_slot, local, remote, state) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let (uid, inode) = (fields.nth(3)?, fields.nth(1)?);
    key.clear();
    key.extend_from_slice(local);
    key.push(b' ');
    key.extend_from_slice(remote);
    Some(Socket {
        uid: std::str::from_utf8(uid).ok()?.parse().ok()?,
        state: State(u8::from_str_radix(std::str::from_utf8(state).ok()?, 16).ok()?),
        inode: std::str::from_utf8(inode).ok()?.parse().ok()?,
    })
}

/// `LOCAL REMOTE` of the row of the socket from `local` to `remote` in the
/// `tcp6` table (`v6`) or the `tcp` table.
fn row_key(local: SocketAddr, remote: SocketAddr, v6: bool) -> Vec<u8> {
    let (l, r) = (local.ip().to_canonical(), remote.ip().to_canonical());
    format!(
        "{} {}",
        proc_address(l, local.port(), v6),
        proc_address(r, remote.port(), v6)
    )
    .into_bytes()
}

/// How the kernel prints an address: each 32-bit word of the address in
/// memory as a native-endian hex number, then the port in hex.
pub(super) fn proc_address(ip: IpAddr, port: u16, v6_table: bool) -> String {
    use std::fmt::Write;
    let bytes: Vec<u8> = match (ip, v6_table) {
        (IpAddr::V4(v4), false) => v4.octets().to_vec(),
        (IpAddr::V4(v4), true) => v4.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(v6), _) => v6.octets().to_vec(),
    };
    let mut out = String::with_capacity(38);
    for word in bytes.chunks_exact(4) {
        let n = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
        let _ = write!(out, "{n:08X}");
    }
    let _ = write!(out, ":{port:04X}");
    out
}

#[cfg(test)]
pub(super) fn parse_table(text: &str) -> Vec<(String, Socket)> {
    let mut key = Vec::new();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let socket = parse_row(line.as_bytes(), &mut key)?;
            Some((String::from_utf8(key.clone()).ok()?, socket))
        })
        .collect()
}
