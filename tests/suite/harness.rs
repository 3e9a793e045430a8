//! What the harness in `tests/common` promises the tests that use it.

use crate::common::binary::{ephemeral_ports_start, free_port};

/// The daemons these tests start are given a port from below the kernel's range for outgoing
/// connections, where no client socket of another test can take it before the daemon listens.
#[test]
fn a_port_for_a_daemon_is_free_and_outside_the_range_of_outgoing_connections() {
    let start = ephemeral_ports_start();
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    for &port in &ports {
        assert!(port < start, "port {port} is in the outgoing range from {start}");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "each port is handed out once: {ports:?}");
}
