//! Name resolution: the [`Resolver`] trait, its system and static implementations, and the
//! guard that makes the HTTP client dial only checked addresses.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use ipnet::IpNet;

use crate::EgressError;
use crate::classify::{Blocked, check_address};

/// Turns a host name into addresses. Every outbound connection's name goes through one.
pub trait Resolver: Send + Sync {
    /// All addresses `host` resolves to. An unknown name is an error of kind
    /// [`io::ErrorKind::NotFound`].
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The system's DNS configuration (`/etc/resolv.conf`, the hosts file), queried in process by
/// hickory-resolver with its cache, so lookups never block a runtime thread.
#[derive(Clone)]
pub struct SystemResolver {
    inner: TokioResolver,
}

impl SystemResolver {
    /// Reads the system configuration.
    pub fn new() -> Result<Self, EgressError> {
        let inner = TokioResolver::builder_tokio()
            .and_then(|builder| builder.build())
            .map_err(|e| EgressError::Resolver(e.to_string()))?;
        Ok(Self { inner })
    }
}

impl fmt::Debug for SystemResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemResolver").finish_non_exhaustive()
    }
}

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            match self.inner.lookup_ip(host).await {
                Ok(lookup) => Ok(lookup.iter().collect()),
                Err(err) => {
                    let kind = if err.is_no_records_found() || err.is_nx_domain() {
                        io::ErrorKind::NotFound
                    } else {
                        io::ErrorKind::Other
                    };
                    Err(io::Error::new(kind, err))
                }
            }
        })
    }
}

/// A fixed table of names and their addresses, for tests and for hosts that are not in DNS.
/// Names are matched case-insensitively, with or without a trailing dot.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// An empty table: every name is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a name's addresses.
    #[must_use]
    pub fn with_host(mut self, name: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.insert(name, addresses);
        self
    }

    /// Adds (or replaces) a name's addresses.
    pub fn insert(&mut self, name: &str, addresses: impl IntoIterator<Item = IpAddr>) {
        self.hosts
            .insert(normalize(name), addresses.into_iter().collect());
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolver for StaticResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let trimmed = host.trim_end_matches('.');
        let found = match self.hosts.get(trimmed) {
            Some(addresses) => Some(addresses),
            None => self.hosts.get(&trimmed.to_ascii_lowercase()),
        };
        let result = match found {
            Some(addresses) if !addresses.is_empty() => Ok(addresses.clone()),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no address known for `{host}`"),
            )),
        };
        Box::pin(std::future::ready(result))
    }
}

/// Why a name did not yield a usable destination.
#[derive(Debug)]
pub(crate) enum LookupFailure {
    /// The resolver failed or returned nothing.
    Lookup(io::Error),
    /// One of the addresses is refused.
    Blocked(Blocked),
}

/// Resolves `host` and checks every address; one refused address refuses the name.
pub(crate) async fn resolve_checked(
    resolver: &dyn Resolver,
    host: &str,
    allow_private: &[IpNet],
) -> Result<Vec<IpAddr>, LookupFailure> {
    let addresses = resolver
        .resolve(host)
        .await
        .map_err(LookupFailure::Lookup)?;
    if addresses.is_empty() {
        return Err(LookupFailure::Lookup(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address for `{host}`"),
        )));
    }
    for ip in &addresses {
        check_address(*ip, allow_private).map_err(LookupFailure::Blocked)?;
    }
    Ok(addresses)
}

/// The HTTP client's DNS hook: resolves through the [`Resolver`] again at connect time and
/// hands the connector only addresses that pass the check, so the dialled address is always a
/// checked one, whatever the name resolved to a moment earlier.
pub(crate) struct GuardedResolve {
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) allow_private: Arc<[IpNet]>,
}

impl reqwest::dns::Resolve for GuardedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = Arc::clone(&self.resolver);
        let allow_private = Arc::clone(&self.allow_private);
        Box::pin(async move {
            let addresses = resolve_checked(resolver.as_ref(), name.as_str(), &allow_private)
                .await
                .map_err(|failure| -> Box<dyn std::error::Error + Send + Sync> {
                    match failure {
                        LookupFailure::Lookup(err) => Box::new(err),
                        LookupFailure::Blocked(blocked) => Box::new(blocked),
                    }
                })?;
            // Port 0 tells the connector to use the URL's port.
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_names_are_case_and_dot_insensitive() {
        let ip: IpAddr = "93.184.216.34".parse().unwrap();
        let resolver = StaticResolver::new().with_host("Api.Example.COM.", [ip]);
        assert_eq!(resolver.resolve("api.example.com").await.unwrap(), vec![ip]);
        assert_eq!(
            resolver.resolve("API.example.com.").await.unwrap(),
            vec![ip]
        );
        let err = resolver.resolve("other.example").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn one_refused_address_refuses_the_name() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        let resolver = StaticResolver::new()
            .with_host("mixed.test", [public, private])
            .with_host("public.test", [public])
            .with_host("empty.test", []);
        match resolve_checked(&resolver, "mixed.test", &[]).await {
            Err(LookupFailure::Blocked(b)) => assert_eq!(b.address(), private),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            resolve_checked(&resolver, "public.test", &[])
                .await
                .unwrap(),
            vec![public]
        );
        assert!(matches!(
            resolve_checked(&resolver, "empty.test", &[]).await,
            Err(LookupFailure::Lookup(_))
        ));
    }
}
