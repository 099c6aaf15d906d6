use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::netlink::*;
use super::procfs::{find_many, parse_table, proc_address};
use super::*;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
}

fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

const BOTH: [Source; 2] = [Source::Netlink, Source::Proc];

#[test]
fn a_request_names_the_socket_by_its_local_then_its_remote_end() {
    let m = diag_request(v4(50_000), v4(7911));
    assert_eq!(m.len(), 72);
    assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 72);
    assert_eq!(u16::from_ne_bytes([m[4], m[5]]), SOCK_DIAG_BY_FAMILY);
    assert_eq!(u16::from_ne_bytes([m[6], m[7]]), NLM_F_REQUEST);
    assert_eq!(&m[16..20], &[AF_INET, IPPROTO_TCP, 0, 0]);
    assert_eq!(&m[20..24], &[0xff; 4], "every state");
    assert_eq!(
        &m[24..26],
        &50_000u16.to_be_bytes(),
        "source: the local end"
    );
    assert_eq!(
        &m[26..28],
        &7911u16.to_be_bytes(),
        "destination: the remote end"
    );
    assert_eq!(&m[28..32], &[127, 0, 0, 1]);
    assert_eq!(&m[32..44], &[0; 12]);
    assert_eq!(&m[44..48], &[127, 0, 0, 1]);
    assert_eq!(&m[60..64], &[0; 4], "any interface");
    assert_eq!(&m[64..72], &[0xff; 8], "no cookie");
}

#[test]
fn a_v4_mapped_socket_is_asked_for_as_ipv4_and_ipv6_as_ipv6() {
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
fn an_answer_gives_the_uid_state_and_inode_of_the_socket() {
    let mut body = vec![0u8; 72];
    body[MSG_STATE_OFFSET] = 1;
    body[MSG_WQUEUE_OFFSET..MSG_WQUEUE_OFFSET + 4].copy_from_slice(&1024u32.to_ne_bytes());
    body[MSG_UID_OFFSET..MSG_UID_OFFSET + 4].copy_from_slice(&65_534u32.to_ne_bytes());
    body[MSG_INODE_OFFSET..MSG_INODE_OFFSET + 4].copy_from_slice(&4242u32.to_ne_bytes());
    let (socket, wqueue) = parse_diag_answer(&message(SOCK_DIAG_BY_FAMILY, &body)).unwrap();
    assert_eq!(
        socket,
        Socket {
            uid: 65_534,
            state: State::ESTABLISHED,
            inode: 4242
        }
    );
    assert_eq!(wqueue, 1024);
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
        message(SOCK_DIAG_BY_FAMILY, &[0u8; 70]),
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
   2: 0100007F:1EE7 0100007F:C351 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: garbage
";

#[test]
fn a_table_row_gives_its_addresses_state_uid_and_inode() {
    let rows = parse_table(TABLE);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0].0, "0100007F:1EE7 00000000:0000");
    assert_eq!(
        rows[0].1,
        Socket {
            uid: 0,
            state: State::LISTEN,
            inode: 1001
        }
    );
    assert_eq!(
        rows[1].1,
        Socket {
            uid: 65_534,
            state: State::ESTABLISHED,
            inode: 1002
        }
    );
    assert!(rows[1].1.held());
    assert_eq!(rows[2].1.state, State::TIME_WAIT);
    assert!(
        !rows[2].1.held(),
        "a TIME_WAIT row is uid 0 and held by nobody"
    );
}

#[test]
fn only_a_socket_a_process_still_holds_is_held() {
    let socket = |state, inode| Socket {
        uid: 0,
        state,
        inode,
    };
    for state in [
        State::ESTABLISHED,
        State::FIN_WAIT1,
        State::FIN_WAIT2,
        State::CLOSE_WAIT,
        State::LISTEN,
    ] {
        assert!(socket(state, 7).held(), "{}", state.name());
        assert!(!socket(state, 0).held(), "{} with no inode", state.name());
    }
    for state in [
        State::TIME_WAIT,
        State::CLOSE,
        State::SYN_RECV,
        State::NEW_SYN_RECV,
    ] {
        assert!(!socket(state, 7).held(), "{}", state.name());
    }
}

/// A real loopback connection: (peer, local) as the server side sees them.
fn connection(listen: SocketAddr) -> Option<(SocketAddr, SocketAddr, TcpStream, TcpStream)> {
    let listener = TcpListener::bind(listen).ok()?;
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    Some((peer, server.local_addr().unwrap(), client, server))
}

#[test]
fn finds_our_own_sockets_through_netlink_and_through_proc() {
    let (peer, local, _c, _s) = connection(v4(0)).unwrap();
    for source in BOTH {
        let client = source.find(peer, local).unwrap();
        assert_eq!(client.uid, our_uid(), "{source:?}");
        assert_eq!(client.state, State::ESTABLISHED, "{source:?}");
        assert!(client.held(), "{source:?}");
        let server = source.find(local, peer).unwrap();
        assert_eq!(server.uid, our_uid(), "{source:?}");
    }
}

#[test]
fn finds_our_own_uid_over_ipv6() {
    // Some CI containers have no IPv6 loopback; nothing to check there.
    let Some((peer, local, _c, _s)) = connection(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0))
    else {
        return;
    };
    for source in BOTH {
        assert_eq!(source.find(peer, local).unwrap().uid, our_uid());
    }
}

#[test]
fn finds_a_listener_by_its_address_alone() {
    let listener = TcpListener::bind(v4(0)).unwrap();
    let addr = listener.local_addr().unwrap();
    for source in BOTH {
        let found = source.find(addr, unspecified_like(addr.ip())).unwrap();
        assert_eq!(found.state, State::LISTEN, "{source:?}");
        assert_eq!(found.uid, our_uid(), "{source:?}");
    }
    drop(listener);
    for source in BOTH {
        let e = source.find(addr, unspecified_like(addr.ip())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{source:?}");
    }
}

#[test]
fn a_socket_nobody_has_is_not_found() {
    let (_peer, local, _c, _s) = connection(v4(0)).unwrap();
    // Port 1 on loopback: nobody is connected from there.
    for source in BOTH {
        let e = source.find(v4(1), local).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{source:?}");
    }
}

/// Polls `source` until the socket `local`→`remote` is in `state`.
fn wait_for_state(source: Source, local: SocketAddr, remote: SocketAddr, state: State) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = source.find(local, remote)
            && s.state == state
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{local} never reached {}",
            state.name()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_client_socket_in_time_wait_is_not_held_by_anyone() {
    // The client closes first, then the server: the client's end waits in
    // TIME_WAIT, which the kernel lists as uid 0 (root) with no inode.
    let (peer, local, client, server) = connection(v4(0)).unwrap();
    drop(client);
    drop(server);
    for source in BOTH {
        let gone = wait_for_state(source, peer, local, State::TIME_WAIT);
        assert_eq!((gone.uid, gone.inode), (0, 0), "{source:?}");
        assert!(!gone.held(), "{source:?}");
    }
}

#[test]
fn a_client_socket_its_process_closed_is_not_held() {
    // The client closes and the server does not: the client's end is
    // orphaned (FIN_WAIT2), no longer any process's.
    let (peer, local, client, _server) = connection(v4(0)).unwrap();
    drop(client);
    for source in BOTH {
        let gone = wait_for_state(source, peer, local, State::FIN_WAIT2);
        assert_eq!(gone.inode, 0, "{source:?}");
        assert!(!gone.held(), "{source:?}");
    }
}

#[test]
fn many_sockets_are_found_in_one_pass() {
    let listener = TcpListener::bind(v4(0)).unwrap();
    let pairs: Vec<_> = (0..50)
        .map(|_| {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, peer) = listener.accept().unwrap();
            (peer, server.local_addr().unwrap(), client, server)
        })
        .collect();
    let mut wanted: Vec<_> = pairs.iter().map(|(p, l, _, _)| (*p, *l)).collect();
    wanted.push((v4(1), listener.local_addr().unwrap()));
    let found = find_many(&wanted).unwrap();
    assert_eq!(found.len(), 51);
    for socket in &found[..50] {
        let socket = socket.expect("every connection is found");
        assert_eq!((socket.uid, socket.state), (our_uid(), State::ESTABLISHED));
    }
    assert_eq!(found[50], None);
}
