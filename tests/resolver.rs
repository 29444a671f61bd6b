//! The name resolver every test paygate uses for webhook and sandbox-notification
//! destinations: no test asks the network's DNS, and no test's delivery connects off
//! loopback. Names resolve to what the test set ([`TestResolver::set`]); `localhost` to
//! 127.0.0.1; any other name to 203.0.113.1 (TEST-NET-3: public by the destination rule,
//! so a test's `https://shop.example/...` is accepted). Every address a delivery was about
//! to connect to, after paygate's rule passed it, is recorded, and only loopback ones are
//! handed back to connect to: whatever paygate's rule decides, the connection cannot leave
//! the machine.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use paygate::service::destinations::{Lookup, Resolver};

/// Where an unknown name resolves: TEST-NET-3, never connected to.
pub const PUBLIC_TEST_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));

#[derive(Default)]
pub struct TestResolver {
    names: Mutex<HashMap<String, Vec<IpAddr>>>,
    lookups: Mutex<Vec<String>>,
    connections: Mutex<Vec<(String, IpAddr)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestResolver {
    /// From now on `name` resolves to `addrs`.
    pub fn set(&self, name: &str, addrs: &[IpAddr]) {
        lock(&self.names).insert(name.to_ascii_lowercase(), addrs.to_vec());
    }

    /// The names looked up so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        lock(&self.lookups).clone()
    }

    /// Every (host, address) a connection was about to be made to after paygate's rule
    /// passed it, in order, loopback or not (only loopback ones were connected to).
    pub fn connections(&self) -> Vec<(String, IpAddr)> {
        lock(&self.connections).clone()
    }
}

impl Resolver for TestResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        let host = host.to_ascii_lowercase();
        lock(&self.lookups).push(host.clone());
        let mapped = lock(&self.names).get(&host).cloned();
        let addrs = match (mapped, host.as_str()) {
            (Some(addrs), _) => addrs,
            (None, "localhost") => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            (None, _) => vec![PUBLIC_TEST_ADDR],
        };
        Box::pin(async move { Ok(addrs) })
    }

    fn connecting(&self, host: &str, addrs: Vec<IpAddr>) -> Vec<IpAddr> {
        let mut seen = lock(&self.connections);
        seen.extend(addrs.iter().map(|a| (host.to_owned(), *a)));
        addrs.into_iter().filter(|a| a.is_loopback()).collect()
    }
}
