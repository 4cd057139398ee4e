//! `wasi:sockets@0.2` under Spin's outbound policy: a socket reaches only
//! what `allowed_outbound_hosts` allows — `tcp://` (or `*://`) entries for
//! a TCP connection, `udp://` (or `*://`) for UDP datagrams — nothing
//! listens, and names are not looked up (as under `spin up`).

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

use crate::allowed_hosts::AllowedHosts;

/// Sets the socket policy of one instance's WASI context. TCP (UDP) is on
/// only when some entry could allow it; the check then runs per address
/// used (a connect, a datagram), against the shared allow-list.
pub fn configure(wasi: &mut WasiCtxBuilder, hosts: &Arc<AllowedHosts>) {
    let (tcp, udp) = (hosts.mentions("tcp"), hosts.mentions("udp"));
    // Spin never turns name lookup on: a guest connects to addresses.
    wasi.allow_tcp(tcp)
        .allow_udp(udp)
        .allow_ip_name_lookup(false);
    if tcp || udp {
        let hosts = hosts.clone();
        wasi.socket_addr_check(move |addr, usage| {
            let allowed = permits(&hosts, addr, usage);
            Box::pin(async move { allowed })
        });
    }
}

/// Whether `usage` of `addr` is allowed by `hosts`.
fn permits(hosts: &AllowedHosts, addr: SocketAddr, usage: SocketAddrUse) -> bool {
    match usage {
        SocketAddrUse::TcpConnect => hosts.allows_socket("tcp", addr),
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => hosts.allows_socket("udp", addr),
        // wasmtime 48 asks about the implicit bind of every connect or
        // send (the unspecified address, port 0): an ephemeral local port
        // is what any client uses, and it serves nothing (no listen).
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind
            if addr.ip().is_unspecified() && addr.port() == 0 =>
        {
            true
        }
        // Spin checks an explicit UDP bind against the list.
        SocketAddrUse::UdpBind => hosts.allows_socket("udp", addr),
        // No server sockets: Spin refuses every TCP bind.
        SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Connects and datagrams follow the list; binds only ephemeral.
    #[test]
    fn each_use_of_an_address() {
        let hosts = AllowedHosts::parse(&["*://127.0.0.0/24:7".into()]).unwrap();
        let allowed = |usage, a| permits(&hosts, addr(a), usage);
        assert!(allowed(SocketAddrUse::TcpConnect, "127.0.0.1:7"));
        assert!(!allowed(SocketAddrUse::TcpConnect, "127.0.0.1:8"));
        assert!(allowed(SocketAddrUse::UdpSend, "127.0.0.2:7"));
        assert!(allowed(SocketAddrUse::UdpReceive, "127.0.0.2:7"));
        assert!(!allowed(SocketAddrUse::UdpReceive, "10.0.0.1:7"));
        assert!(allowed(SocketAddrUse::TcpBind, "0.0.0.0:0"));
        assert!(allowed(SocketAddrUse::UdpBind, "[::]:0"));
        assert!(!allowed(SocketAddrUse::TcpBind, "0.0.0.0:7"));
        assert!(!allowed(SocketAddrUse::TcpBind, "127.0.0.1:7"));
        assert!(allowed(SocketAddrUse::UdpBind, "127.0.0.1:7"));
        assert!(!allowed(SocketAddrUse::TcpListen, "0.0.0.0:0"));
        assert!(!allowed(SocketAddrUse::TcpAccept, "127.0.0.1:7"));
    }
}
