use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;
use crate::socket_table::State;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
}

fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

const MODES: [LookupMode; 3] = [LookupMode::Auto, LookupMode::Netlink, LookupMode::Proc];

/// A real loopback connection: (peer, local) as the server side sees them.
fn connection(listener: &TcpListener) -> (SocketAddr, SocketAddr, TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    (peer, server.local_addr().unwrap(), client, server)
}

fn listener() -> TcpListener {
    TcpListener::bind(v4(0)).unwrap()
}

#[tokio::test]
async fn finds_our_own_uid_in_every_mode() {
    let l = listener();
    let (peer, local, _c, _s) = connection(&l);
    for mode in MODES {
        let lookup = PeerLookup::new(mode);
        assert_eq!(
            lookup.lookup(peer, local).await.unwrap(),
            our_uid(),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn a_peer_with_no_socket_here_is_not_local() {
    let l = listener();
    let (_peer, local, _c, _s) = connection(&l);
    for mode in MODES {
        // Port 1 on loopback: nobody is connected from there.
        let e = PeerLookup::new(mode)
            .lookup(v4(1), local)
            .await
            .unwrap_err();
        assert!(matches!(e, PeerError::NotLocal { .. }), "{mode:?}: {e:?}");
    }
}

/// Polls until the client end `peer` of the connection to `local` is in `state`.
fn wait_for_state(peer: SocketAddr, local: SocketAddr, state: State) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while socket_table::netlink::find(peer, local)
        .map(|s| s.state)
        .ok()
        != Some(state)
    {
        assert!(Instant::now() < deadline, "never reached {}", state.name());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn a_peer_whose_socket_is_in_time_wait_is_gone_not_root() {
    // The kernel lists a TIME_WAIT socket as uid 0: taken at its word, a
    // connection another user closed before the lookup was root's.
    let l = listener();
    let (peer, local, client, server) = connection(&l);
    drop(client);
    drop(server);
    wait_for_state(peer, local, State::TIME_WAIT);
    for mode in MODES {
        let e = PeerLookup::new(mode).lookup(peer, local).await.unwrap_err();
        assert!(
            matches!(
                e,
                PeerError::Gone {
                    state: "TIME_WAIT",
                    ..
                }
            ),
            "{mode:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_peer_whose_process_closed_its_socket_is_gone() {
    let l = listener();
    let (peer, local, client, _server) = connection(&l);
    drop(client);
    wait_for_state(peer, local, State::FIN_WAIT2);
    for mode in MODES {
        let e = PeerLookup::new(mode).lookup(peer, local).await.unwrap_err();
        assert!(matches!(e, PeerError::Gone { .. }), "{mode:?}: {e:?}");
    }
}

#[tokio::test]
async fn many_proc_lookups_at_once_are_answered_by_few_passes() {
    let l = listener();
    let conns: Vec<_> = (0..200).map(|_| connection(&l)).collect();
    let lookup = PeerLookup::new(LookupMode::Proc);
    let found = futures_util::future::join_all(
        conns
            .iter()
            .map(|(peer, local, _, _)| lookup.lookup(*peer, *local)),
    )
    .await;
    assert!(
        found.iter().all(|f| f.as_ref().ok() == Some(&our_uid())),
        "{found:?}"
    );
}

#[tokio::test]
async fn proc_lookups_beyond_the_queue_are_busy_before_any_table_read() {
    let l = listener();
    let conns: Vec<_> = (0..10).map(|_| connection(&l)).collect();
    let mut lookup = PeerLookup::new(LookupMode::Proc);
    Arc::get_mut(&mut lookup.inner).unwrap().max_waiting = 4;
    // One thread: all ten are queued before the pass task first runs.
    let found = futures_util::future::join_all(
        conns
            .iter()
            .map(|(peer, local, _, _)| lookup.lookup(*peer, *local)),
    )
    .await;
    let busy = found
        .iter()
        .filter(|f| matches!(f, Err(PeerError::Busy { .. })))
        .count();
    let served = found.iter().filter(|f| f.is_ok()).count();
    assert_eq!((served, busy), (4, 6), "{found:?}");
}

#[test]
fn start_uses_netlink_where_the_kernel_allows_it_and_proc_when_told() {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let auto = PeerLookup::start(LookupMode::Auto, addr).unwrap();
    assert_eq!(auto.lookup.source(), Source::Netlink);
    assert!(auto.netlink_refused.is_none());
    let forced = PeerLookup::start(LookupMode::Proc, addr).unwrap();
    assert_eq!(forced.lookup.source(), Source::Proc);
    assert_eq!(
        LookupMode::parse("proc").map(LookupMode::as_str),
        Some("proc")
    );
    assert_eq!(LookupMode::parse("PROC"), None);
}
