//! The ACL file: which principal may do what to which topics, groups and transactional
//! ids. Only `allow` rules exist: whatever no rule allows is denied. One rule a line:
//!
//! ```text
//! # allow PRINCIPAL OPERATION RESOURCE NAME
//! allow User:alice write topic orders
//! allow User:alice read group billing-*      # a trailing * matches a prefix
//! allow User:* describe topic *              # User:* is any principal
//! ```
//!
//! Operations: `read`, `write`, `create`, `describe`, `all`. As in Kafka, `read` and
//! `write` imply `describe`. Resources: `topic`, `group`, `transactional-id`.

use super::principal::Principal;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What a request does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Fetch records, commit or fetch a group's offsets, join a group.
    Read,
    /// Produce records, use a transactional id.
    Write,
    /// Create a topic.
    Create,
    /// See that it exists (metadata, offsets, coordinators).
    Describe,
}

impl Operation {
    fn parse(word: &str) -> Result<Option<Self>, String> {
        match word {
            "read" => Ok(Some(Self::Read)),
            "write" => Ok(Some(Self::Write)),
            "create" => Ok(Some(Self::Create)),
            "describe" => Ok(Some(Self::Describe)),
            "all" => Ok(None),
            other => Err(format!("unknown operation {other:?}")),
        }
    }

    /// Whether a rule granting `self` grants `asked`.
    fn grants(self, asked: Self) -> bool {
        self == asked || (asked == Self::Describe && matches!(self, Self::Read | Self::Write))
    }
}

/// The kinds of resource a rule names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// A transactional id.
    TransactionalId,
}

impl Resource {
    fn parse(word: &str) -> Result<Self, String> {
        match word {
            "topic" => Ok(Self::Topic),
            "group" => Ok(Self::Group),
            "transactional-id" => Ok(Self::TransactionalId),
            other => Err(format!("unknown resource {other:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    Prefix(String),
    Exact(String),
}

impl Pattern {
    fn parse(word: &str) -> Self {
        match word.strip_suffix('*') {
            Some("") => Self::Any,
            Some(prefix) => Self::Prefix(prefix.to_string()),
            None => Self::Exact(word.to_string()),
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Self::Exact(exact) => name == exact,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    /// `None`: any principal (`User:*`).
    principal: Option<String>,
    /// `None`: every operation.
    operation: Option<Operation>,
    resource: Resource,
    pattern: Pattern,
}

/// Why the ACL file could not be used.
#[derive(Debug, Error)]
pub enum AclError {
    /// Reading the file failed.
    #[error("ACL file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A line does not parse.
    #[error("ACL file line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The rules of an ACL file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acls {
    rules: Vec<Rule>,
}

impl Acls {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, AclError> {
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, AclError> {
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().map_or("", str::trim);
            if line.is_empty() {
                continue;
            }
            let rule = parse_rule(line).map_err(|reason| AclError::Parse {
                line: index + 1,
                reason,
            })?;
            rules.push(rule);
        }
        Ok(Self { rules })
    }

    /// Whether a rule allows `principal` to do `operation` to the resource `name`.
    pub fn allows(
        &self,
        principal: &Principal,
        operation: Operation,
        resource: Resource,
        name: &str,
    ) -> bool {
        self.rules.iter().any(|rule| {
            rule.resource == resource
                && rule
                    .principal
                    .as_deref()
                    .is_none_or(|p| p == principal.as_str())
                && rule
                    .operation
                    .is_none_or(|granted| granted.grants(operation))
                && rule.pattern.matches(name)
        })
    }

    /// Whether some rule allows `principal` to do `operation` to some resource of the
    /// kind (an idempotent producer needs to write somewhere to get a producer id).
    pub fn allows_some(
        &self,
        principal: &Principal,
        operation: Operation,
        resource: Resource,
    ) -> bool {
        self.rules.iter().any(|rule| {
            rule.resource == resource
                && rule
                    .principal
                    .as_deref()
                    .is_none_or(|p| p == principal.as_str())
                && rule
                    .operation
                    .is_none_or(|granted| granted.grants(operation))
        })
    }
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [verb, principal, operation, resource, name] = fields.as_slice() else {
        return Err(format!(
            "expected `allow PRINCIPAL OPERATION RESOURCE NAME`, found {} fields",
            fields.len()
        ));
    };
    if *verb != "allow" {
        return Err(format!(
            "unknown rule {verb:?} (only `allow`: the default is deny)"
        ));
    }
    if !principal.starts_with("User:") {
        return Err(format!("principal {principal:?} must start with `User:`"));
    }
    Ok(Rule {
        principal: (*principal != "User:*").then(|| principal.to_string()),
        operation: Operation::parse(operation)?,
        resource: Resource::parse(resource)?,
        pattern: Pattern::parse(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
allow User:alice write topic orders
allow User:alice read group billing-*   # prefix
allow User:* describe topic public
allow User:carol all transactional-id *
";

    #[test]
    fn only_what_a_rule_allows_is_allowed() {
        let acls = Acls::parse(FILE).unwrap();
        let (alice, bob, carol) = (
            Principal::user("alice"),
            Principal::user("bob"),
            Principal::user("carol"),
        );
        assert!(acls.allows(&alice, Operation::Write, Resource::Topic, "orders"));
        // write implies describe, not read or create
        assert!(acls.allows(&alice, Operation::Describe, Resource::Topic, "orders"));
        assert!(!acls.allows(&alice, Operation::Read, Resource::Topic, "orders"));
        assert!(!acls.allows(&alice, Operation::Create, Resource::Topic, "orders"));
        assert!(!acls.allows(&alice, Operation::Write, Resource::Topic, "orders2"));
        assert!(acls.allows(&alice, Operation::Read, Resource::Group, "billing-eu"));
        assert!(!acls.allows(&alice, Operation::Read, Resource::Group, "billin"));
        assert!(!acls.allows(&bob, Operation::Write, Resource::Topic, "orders"));
        assert!(acls.allows(&bob, Operation::Describe, Resource::Topic, "public"));
        assert!(acls.allows(&carol, Operation::Write, Resource::TransactionalId, "t"));
        assert!(!acls.allows(&carol, Operation::Write, Resource::Topic, "t"));
        assert!(acls.allows_some(&alice, Operation::Write, Resource::Topic));
        assert!(!acls.allows_some(&bob, Operation::Write, Resource::Topic));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        for bad in [
            "deny User:a read topic t",
            "allow alice read topic t",
            "allow User:a fly topic t",
            "allow User:a read table t",
            "allow User:a read topic",
        ] {
            let text = format!("# first\n{bad}\n");
            match Acls::parse(&text) {
                Err(AclError::Parse { line: 2, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
