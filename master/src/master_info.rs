//! The MasterInfo this master advertises: who it is and where to reach it. Built once
//! at start; the core and the `/version`-style endpoints only read it.

use std::net::{IpAddr, SocketAddr};

use ratufa_proto::v1::master_info::Capability;
use ratufa_proto::v1::master_info::capability::Type as CapabilityType;
use ratufa_proto::v1::{Address, MasterInfo};

use crate::MasterConfig;

pub use ratufa_gateway::version::{MESOS_VERSION as VERSION, RATUFA_VERSION};

/// The capabilities a Mesos 1.x master advertises. Clients use them to decide which
/// calls they may make, so they are advertised as Mesos does.
const CAPABILITIES: [CapabilityType; 3] = [
    CapabilityType::AgentUpdate,
    CapabilityType::AgentDraining,
    CapabilityType::QuotaV2,
];

/// Where this master is reachable: from the flags where given, otherwise discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    pub ip: IpAddr,
    pub port: u16,
    pub hostname: String,
}

/// Works out the advertised address. `bound` is the listener's address when there is
/// one (so that port 0 advertises the port actually bound).
pub fn advertised(config: &MasterConfig, bound: Option<SocketAddr>) -> Advertised {
    let port = config
        .advertise_port
        .or_else(|| bound.map(|addr| addr.port()))
        .unwrap_or(config.port);
    let bound_ip = bound.map_or(config.ip, |addr| addr.ip());
    let ip = config.advertise_ip.unwrap_or_else(|| {
        if bound_ip.is_unspecified() {
            ratufa_gateway::tcp::outward_ip()
        } else {
            bound_ip
        }
    });
    let hostname = config.hostname.clone().unwrap_or_else(|| hostname_for(ip));
    Advertised { ip, port, hostname }
}

/// Builds the MasterInfo for `id` at `at`.
pub fn master_info(id: String, at: &Advertised) -> MasterInfo {
    let ip_string = at.ip.to_string();
    MasterInfo {
        id,
        ip: ip_as_u32(at.ip),
        port: u32::from(at.port),
        pid: Some(format!("master@{}", SocketAddr::new(at.ip, at.port))),
        hostname: Some(at.hostname.clone()),
        version: Some(VERSION.to_string()),
        address: Some(Address {
            hostname: Some(at.hostname.clone()),
            ip: Some(ip_string),
            port: i32::from(at.port),
        }),
        domain: None,
        capabilities: CAPABILITIES
            .iter()
            .map(|t| Capability {
                r#type: Some(*t as i32),
            })
            .collect(),
    }
}

/// MasterInfo.ip is an `in_addr.s_addr`: the address bytes in network order, read as a
/// little-endian u32 on the hosts Mesos runs on (127.0.0.1 is 16777343). Clients (the
/// ZooKeeper detectors among them) decode it that way. IPv6 has no such form; 0 there,
/// with the real address in `address.ip`.
pub fn ip_as_u32(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        IpAddr::V6(_) => 0,
    }
}

/// A name for `ip`, standing in for the reverse lookup Mesos does: `localhost` for
/// loopback (what that lookup gives), otherwise this host's name, else the address.
fn hostname_for(ip: IpAddr) -> String {
    if ip.is_loopback() {
        return "localhost".to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_is_network_order_bytes() {
        assert_eq!(ip_as_u32("127.0.0.1".parse().unwrap()), 16_777_343);
        assert_eq!(ip_as_u32("10.0.0.1".parse().unwrap()), 0x0100_000a);
    }

    #[test]
    fn flags_win_over_discovery() {
        let config = MasterConfig {
            advertise_ip: Some("10.1.2.3".parse().unwrap()),
            advertise_port: Some(8080),
            hostname: Some("m1.example".into()),
            ..MasterConfig::default()
        };
        let at = advertised(&config, Some("0.0.0.0:5050".parse().unwrap()));
        assert_eq!(
            at,
            Advertised {
                ip: "10.1.2.3".parse().unwrap(),
                port: 8080,
                hostname: "m1.example".into()
            }
        );
    }

    #[test]
    fn bound_port_is_advertised_when_port_was_zero() {
        let config = MasterConfig {
            ip: "127.0.0.1".parse().unwrap(),
            port: 0,
            ..MasterConfig::default()
        };
        let at = advertised(&config, Some("127.0.0.1:41234".parse().unwrap()));
        assert_eq!(at.port, 41234);
        assert_eq!(at.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(at.hostname, "localhost");
    }

    #[test]
    fn unspecified_bind_advertises_a_real_address() {
        let at = advertised(&MasterConfig::default(), None);
        assert!(!at.ip.is_unspecified());
        assert_eq!(at.port, 5050);
    }

    #[test]
    fn master_info_fields() {
        let at = Advertised {
            ip: "127.0.0.1".parse().unwrap(),
            port: 5050,
            hostname: "localhost".into(),
        };
        let info = master_info("abc".into(), &at);
        assert_eq!(info.id, "abc");
        assert_eq!(info.ip, 16_777_343);
        assert_eq!(info.port, 5050);
        assert_eq!(info.pid.as_deref(), Some("master@127.0.0.1:5050"));
        assert_eq!(info.version.as_deref(), Some(VERSION));
        let address = info.address.unwrap();
        assert_eq!(address.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(address.port, 5050);
        assert_eq!(info.capabilities.len(), 3);
        // Clients parse the version as numbers.
        assert!(VERSION.split('.').all(|part| part.parse::<u32>().is_ok()));
    }
}
