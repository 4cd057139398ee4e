//! Spin's conformance tests `tcp-sockets*`, guest side: connects through
//! `wasi:sockets@0.2.0` to the address in the request's `address` header
//! (an echo service), writes a line and reads the same bytes back. A
//! socket error answers 500 with the `error-code` as it prints
//! (`access-denied (error 1)` when the address is not allowed).

use std::net::SocketAddr;

use anyhow::{Context as _, ensure};
use conformance_guest_kit::wasi::http::types::IncomingRequest;
use conformance_guest_kit::wasi::io::poll;
use conformance_guest_kit::wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use conformance_guest_kit::wasi::sockets::{instance_network, tcp_create_socket};

/// What is written, and read back.
const LINE: &[u8] = b"Twas brillig, and the slithy toves\n";

struct TcpSockets;

conformance_guest_kit::guest!(TcpSockets);

impl conformance_guest_kit::Check for TcpSockets {
    fn check(request: &IncomingRequest) -> anyhow::Result<()> {
        let address: SocketAddr = conformance_guest_kit::header(request, "address")
            .context("missing header: address")?
            .parse()
            .context("the address header is no socket address")?;
        let (family, address) = match address {
            SocketAddr::V4(a) => (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    address: a.ip().octets().into(),
                    port: a.port(),
                }),
            ),
            SocketAddr::V6(a) => {
                let s = a.ip().segments();
                (
                    IpAddressFamily::Ipv6,
                    IpSocketAddress::Ipv6(Ipv6SocketAddress {
                        address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                        port: a.port(),
                        flow_info: a.flowinfo(),
                        scope_id: a.scope_id(),
                    }),
                )
            }
        };
        let socket = tcp_create_socket::create_tcp_socket(family)?;
        socket.start_connect(&instance_network::instance_network(), address)?;
        let (input, output) = loop {
            match socket.finish_connect() {
                Err(ErrorCode::WouldBlock) => {
                    poll::poll(&[&socket.subscribe()]);
                }
                done => break done?,
            }
        };
        output.blocking_write_and_flush(LINE)?;
        let mut echoed = Vec::with_capacity(LINE.len());
        while echoed.len() < LINE.len() {
            // Cannot overflow: LINE is a few bytes.
            let wanted = (LINE.len() - echoed.len()) as u64;
            echoed.extend(input.blocking_read(wanted)?);
        }
        ensure!(
            echoed == LINE,
            "echoed {:?}, sent {:?}",
            String::from_utf8_lossy(&echoed),
            String::from_utf8_lossy(LINE)
        );
        Ok(())
    }
}
