//! [`Access`]: what a connection's principal may do, asked by every handler before it
//! acts; denials are logged and counted ([`SecurityCounters`]).

use super::acl::{Acls, Operation, Resource};
use super::principal::Principal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Security events since the server started.
#[derive(Debug, Default)]
pub struct SecurityCounters {
    /// SASL exchanges that failed (wrong password, unknown user, malformed).
    pub authentication_failures: AtomicU64,
    /// Connections closed for not finishing TLS and SASL within the handshake timeout.
    pub handshake_timeouts: AtomicU64,
    /// Requests closed for sending other APIs before authenticating.
    pub unauthenticated_requests: AtomicU64,
    /// Resource accesses the ACLs denied.
    pub authorization_denials: AtomicU64,
}

impl SecurityCounters {
    /// Adds one to `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value of `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A connection's principal and the rules that apply to it.
#[derive(Clone, Debug)]
pub struct Access {
    principal: Arc<Principal>,
    acls: Option<Arc<Acls>>,
    counters: Arc<SecurityCounters>,
}

impl Access {
    /// `principal` under `acls` (`None`: authorization is off, everything is allowed).
    pub fn new(
        principal: Principal,
        acls: Option<Arc<Acls>>,
        counters: Arc<SecurityCounters>,
    ) -> Self {
        Self {
            principal: Arc::new(principal),
            acls,
            counters,
        }
    }

    /// Who the connection acts as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether the principal may do `operation` to the resource `name`, without logging
    /// or counting a denial (for filtering listings).
    pub fn permits(&self, operation: Operation, resource: Resource, name: &str) -> bool {
        match &self.acls {
            None => true,
            Some(acls) => acls.allows(&self.principal, operation, resource, name),
        }
    }

    /// Whether the principal may do `operation` to the resource `name`; a denial is
    /// logged and counted.
    pub fn allows(&self, operation: Operation, resource: Resource, name: &str) -> bool {
        let Some(acls) = &self.acls else {
            return true;
        };
        let allowed = acls.allows(&self.principal, operation, resource, name);
        if !allowed {
            SecurityCounters::count(&self.counters.authorization_denials);
            tracing::warn!(
                principal = %self.principal, ?operation, ?resource, name, "access denied"
            );
        }
        allowed
    }

    /// Whether the principal may do `operation` to some resource of the kind; a denial is
    /// logged and counted.
    pub fn allows_some(&self, operation: Operation, resource: Resource) -> bool {
        let Some(acls) = &self.acls else {
            return true;
        };
        let allowed = acls.allows_some(&self.principal, operation, resource);
        if !allowed {
            SecurityCounters::count(&self.counters.authorization_denials);
            tracing::warn!(principal = %self.principal, ?operation, ?resource, "access denied");
        }
        allowed
    }
}
