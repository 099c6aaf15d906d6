use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};

use super::*;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
}

fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[test]
fn a_request_names_the_client_socket_from_its_own_side() {
    let m = diag_request(v4(50_000), v4(7911));
    assert_eq!(m.len(), 72);
    assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 72);
    assert_eq!(u16::from_ne_bytes([m[4], m[5]]), SOCK_DIAG_BY_FAMILY);
    assert_eq!(u16::from_ne_bytes([m[6], m[7]]), NLM_F_REQUEST);
    assert_eq!(&m[16..20], &[AF_INET, IPPROTO_TCP, 0, 0]);
    assert_eq!(&m[20..24], &[0xff; 4], "every state");
    assert_eq!(&m[24..26], &50_000u16.to_be_bytes(), "source: the peer");
    assert_eq!(&m[26..28], &7911u16.to_be_bytes(), "destination: us");
    assert_eq!(&m[28..32], &[127, 0, 0, 1]);
    assert_eq!(&m[32..44], &[0; 12]);
    assert_eq!(&m[44..48], &[127, 0, 0, 1]);
    assert_eq!(&m[60..64], &[0; 4], "any interface");
    assert_eq!(&m[64..72], &[0xff; 8], "no cookie");
}

#[test]
fn a_v4_mapped_peer_is_asked_for_as_ipv4_and_ipv6_as_ipv6() {
    let mapped = |port| {
        SocketAddr::V6(SocketAddrV6::new(
            Ipv4Addr::LOCALHOST.to_ipv6_mapped(),
            port,
            0,
            0,
        ))
    };
    let m = diag_request(mapped(50_000), mapped(7911));
    assert_eq!(m[16], AF_INET);
    assert_eq!(&m[28..32], &[127, 0, 0, 1]);

    let six = |port| SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port);
    let m = diag_request(six(50_000), six(7911));
    assert_eq!(m[16], AF_INET6);
    assert_eq!(&m[28..44], &Ipv6Addr::LOCALHOST.octets());
    assert_eq!(&m[44..60], &Ipv6Addr::LOCALHOST.octets());
}

/// A netlink message of `kind` with `body` after the 16-byte header.
fn message(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(body);
    m
}

#[test]
fn an_answer_gives_the_uid_of_the_socket() {
    let mut body = vec![0u8; 72];
    body[MSG_UID_OFFSET..MSG_UID_OFFSET + 4].copy_from_slice(&65_534u32.to_ne_bytes());
    assert_eq!(
        parse_diag_answer(&message(SOCK_DIAG_BY_FAMILY, &body)).unwrap(),
        65_534
    );
}

#[test]
fn an_error_answer_gives_its_errno() {
    let enoent = message(NLMSG_ERROR, &(-2i32).to_ne_bytes());
    assert_eq!(
        parse_diag_answer(&enoent).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    let eperm = message(NLMSG_ERROR, &(-1i32).to_ne_bytes());
    assert_eq!(
        parse_diag_answer(&eperm).unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
}

#[test]
fn short_or_unexpected_answers_are_invalid_data() {
    for answer in [
        vec![],
        vec![0u8; 10],
        message(NLMSG_ERROR, &[0xfe, 0xff]),
        message(SOCK_DIAG_BY_FAMILY, &[0u8; 40]),
        message(3, &[0u8; 72]), // NLMSG_DONE: no socket message
    ] {
        let e = parse_diag_answer(&answer).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{answer:?}");
    }
}

#[cfg(target_endian = "little")]
#[test]
fn addresses_are_printed_as_the_kernel_prints_them() {
    let lo = Ipv4Addr::LOCALHOST.into();
    assert_eq!(proc_address(lo, 7911, false), "0100007F:1EE7");
    assert_eq!(
        proc_address(lo, 7911, true),
        "0000000000000000FFFF00000100007F:1EE7"
    );
    assert_eq!(
        proc_address(Ipv6Addr::LOCALHOST.into(), 80, true),
        "00000000000000000000000001000000:0050"
    );
}

const TABLE: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1EE7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1EE7 01 00000000:00000000 00:00000000 00000000 65534        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1EE7 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
   3: garbage
";

#[test]
fn a_table_row_is_found_by_both_of_its_addresses() {
    assert_eq!(
        proc_find(TABLE, "0100007F:C350", "0100007F:1EE7"),
        Some(65_534)
    );
    assert_eq!(proc_find(TABLE, "0100007F:1EE7", "0100007F:C350"), Some(0));
    assert_eq!(proc_find(TABLE, "0100007F:C351", "0100007F:1EE7"), None);
    assert_eq!(proc_find("", "0100007F:C350", "0100007F:1EE7"), None);
}

/// A real loopback connection: (peer, local) as the server side sees them.
fn connection(listen: SocketAddr) -> Option<(SocketAddr, SocketAddr, TcpStream, TcpStream)> {
    let listener = TcpListener::bind(listen).ok()?;
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    Some((peer, server.local_addr().unwrap(), client, server))
}

#[test]
fn finds_our_own_uid_through_netlink_and_through_proc() {
    let (peer, local, _c, _s) = connection(v4(0)).unwrap();
    assert_eq!(netlink_owner(peer, local).unwrap(), our_uid());
    assert_eq!(proc_owner(peer, local).unwrap(), our_uid());
}

#[test]
fn finds_our_own_uid_over_ipv6() {
    // Some CI containers have no IPv6 loopback; nothing to check there.
    let Some((peer, local, _c, _s)) = connection(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0))
    else {
        return;
    };
    assert_eq!(netlink_owner(peer, local).unwrap(), our_uid());
    assert_eq!(proc_owner(peer, local).unwrap(), our_uid());
}

#[tokio::test]
async fn a_peer_with_no_socket_here_is_not_local() {
    let (peer, local, _c, _s) = connection(v4(0)).unwrap();
    assert_eq!(lookup(peer, local).await.unwrap(), our_uid());
    // Port 1 on loopback: nobody is connected from there.
    let e = lookup(v4(1), local).await.unwrap_err();
    assert!(matches!(e, PeerError::NotLocal { .. }), "{e:?}");
    assert_eq!(
        proc_owner(v4(1), local).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}
