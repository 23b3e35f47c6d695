//! `zk://[user:pass@]host:port[,host:port…]/path`, as Mesos takes it for `--zk` and an
//! agent's `--master`.

use std::fmt;

use crate::ZkError;

/// A parsed `zk://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `user:pass` for ZooKeeper's `digest` scheme, when given.
    pub auth: Option<(String, String)>,
    /// `host:port` of every server, as given (hosts may be names or IPs).
    pub servers: Vec<(String, u16)>,
    /// The znode under which the masters contend: absolute, no trailing slash.
    pub path: String,
}

// The password stays out of logs.
impl fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkUrl")
            .field("user", &self.auth.as_ref().map(|(user, _)| user))
            .field("servers", &self.servers)
            .field("path", &self.path)
            .finish()
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://")?;
        if let Some((user, _)) = &self.auth {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}{}", self.connect_string(), self.path)
    }
}

impl ZkUrl {
    /// Parses `text`; the error names what is wrong with it.
    pub fn parse(text: &str) -> Result<ZkUrl, ZkError> {
        let bad = |reason: String| ZkError::BadUrl {
            url: redact(text),
            reason,
        };
        let rest = text
            .strip_prefix("zk://")
            .ok_or_else(|| bad("it must start with zk://".into()))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => return Err(bad("the path is missing (zk://host:port/path)".into())),
        };
        // Credentials end at the last '@' before the path: a password may hold '@'.
        let (auth, hosts) = match authority.rfind('@') {
            Some(at) => {
                let (credentials, hosts) = (&authority[..at], &authority[at + 1..]);
                let (user, pass) = credentials
                    .split_once(':')
                    .ok_or_else(|| bad("credentials must be user:password".into()))?;
                if user.is_empty() {
                    return Err(bad("the user name before ':' is empty".into()));
                }
                (Some((user.to_string(), pass.to_string())), hosts)
            }
            None => (None, authority),
        };
        if hosts.is_empty() {
            return Err(bad("no host:port is given".into()));
        }
        let servers = hosts
            .split(',')
            .map(|server| parse_server(server).map_err(&bad))
            .collect::<Result<Vec<_>, _>>()?;
        let path = validate_path(path).map_err(bad)?;
        Ok(ZkUrl {
            auth,
            servers,
            path,
        })
    }

    /// The servers as ZooKeeper clients take them: `host:port,host:port`.
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|(host, port)| {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `text` with any password replaced, for error messages.
fn redact(text: &str) -> String {
    let Some(rest) = text.strip_prefix("zk://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let credentials = &rest[..at];
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            format!("zk://{user}:***@{}", &rest[at + 1..])
        }
        None => text.to_string(),
    }
}

fn parse_server(server: &str) -> Result<(String, u16), String> {
    if server.is_empty() {
        return Err("an empty server between commas".into());
    }
    // [v6]:port or host:port
    let (host, port) = if let Some(bracketed) = server.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("server '{server}' has '[' without ']'"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("server '{server}' has no port (host:port)"))?;
        (host, port)
    } else {
        server
            .rsplit_once(':')
            .ok_or_else(|| format!("server '{server}' has no port (host:port)"))?
    };
    if host.is_empty() {
        return Err(format!("server '{server}' has an empty host"));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
    {
        return Err(format!("server '{server}' has '{c}' in its host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| format!("server '{server}' has port '{port}', not 1-65535"))?;
    Ok((host.to_string(), port))
}

/// ZooKeeper's path rules: absolute, no empty, `.` or `..` segment, no trailing '/'
/// (except the root), no control characters.
fn validate_path(path: &str) -> Result<String, String> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if trimmed == "/" || trimmed.is_empty() {
        return Err("the path must name a znode below the root (zk://host:port/mesos)".into());
    }
    for segment in trimmed[1..].split('/') {
        match segment {
            "" => return Err(format!("the path '{path}' has an empty segment ('//')")),
            "." | ".." => return Err(format!("the path '{path}' has a '{segment}' segment")),
            _ => {}
        }
        if segment.chars().any(char::is_control) {
            return Err(format!("the path '{path}' has a control character"));
        }
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn reason(text: &str) -> String {
        match ZkUrl::parse(text) {
            Err(ZkError::BadUrl { reason, .. }) => reason,
            other => panic!("{text}: expected BadUrl, got {other:?}"),
        }
    }

    #[test]
    fn parses_servers_path_and_credentials() {
        let url = ZkUrl::parse("zk://jo:s3cr@t@10.0.0.1:2181,zk2:2182/mesos/prod/").unwrap();
        assert_eq!(url.auth, Some(("jo".into(), "s3cr@t".into())));
        assert_eq!(
            url.servers,
            vec![("10.0.0.1".into(), 2181), ("zk2".into(), 2182)]
        );
        assert_eq!(url.path, "/mesos/prod");
        assert_eq!(url.connect_string(), "10.0.0.1:2181,zk2:2182");
        assert_eq!(
            url.to_string(),
            "zk://jo:***@10.0.0.1:2181,zk2:2182/mesos/prod"
        );
        assert!(!format!("{url:?}").contains("s3cr"));

        let v6 = ZkUrl::parse("zk://[::1]:2181/m").unwrap();
        assert_eq!(v6.servers, vec![("::1".into(), 2181)]);
        assert_eq!(v6.connect_string(), "[::1]:2181");
    }

    #[test]
    fn errors_name_the_fault() {
        assert!(reason("http://h:1/m").contains("zk://"));
        assert!(reason("zk://h:2181").contains("path is missing"));
        assert!(reason("zk://h:2181/").contains("below the root"));
        assert!(reason("zk://h/m").contains("no port"));
        assert!(reason("zk://h:99999/m").contains("'99999'"));
        assert!(reason("zk://h:0/m").contains("not 1-65535"));
        assert!(reason("zk://h:1,,g:2/m").contains("empty server"));
        assert!(reason("zk:///m").contains("no host"));
        assert!(reason("zk://:1/m").contains("empty host"));
        assert!(reason("zk://h:1/a//b").contains("empty segment"));
        assert!(reason("zk://h:1/a/../b").contains("'..'"));
        assert!(reason("zk://user@h:1/m").contains("user:password"));
        assert!(reason("zk://:pw@h:1/m").contains("user name"));
        assert!(reason("zk://h w:1/m").contains("' '"));
    }

    #[test]
    fn errors_do_not_leak_the_password() {
        let error = ZkUrl::parse("zk://jo:hunter2@h/m").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("jo:***@"), "{error}");
    }

    proptest! {
        // Whatever the text, parsing answers (no panic), and a URL that parses prints
        // back to one that parses to the same servers and path.
        #[test]
        fn never_panics(text in "\\PC{0,60}") {
            let _ = ZkUrl::parse(&text);
        }

        #[test]
        fn near_urls_never_panic(text in "zk://[a-z0-9:@,\\[\\]./]{0,40}") {
            if let Ok(url) = ZkUrl::parse(&text) {
                prop_assert!(!url.servers.is_empty());
                prop_assert!(url.path.starts_with('/') && url.path.len() > 1);
                let again = ZkUrl::parse(&format!("zk://{}{}", url.connect_string(), url.path)).unwrap();
                prop_assert_eq!(again.servers, url.servers);
                prop_assert_eq!(again.path, url.path);
            }
        }

        #[test]
        fn well_formed_urls_parse(
            hosts in proptest::collection::vec(("[a-z][a-z0-9.-]{0,15}", 1u16..), 1..4),
            segments in proptest::collection::vec("[a-z0-9_]{1,8}", 1..4),
        ) {
            let servers = hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(",");
            let path = format!("/{}", segments.join("/"));
            let url = ZkUrl::parse(&format!("zk://{servers}{path}")).unwrap();
            prop_assert_eq!(url.servers, hosts);
            prop_assert_eq!(url.path, path);
        }
    }
}
