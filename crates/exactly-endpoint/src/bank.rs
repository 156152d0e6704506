//! The bank example: two endpoints. `accounts-a` debits a transfer and sends a credit to
//! `accounts-b`, which credits it. Used by `exactly endpoint bank`, the tests and the
//! benchmark, so all of them exercise the same handlers.

use crate::handler::{Handler, HandlerError, Outbox, State};
use crate::message::Message;
use crate::MessageId;
use serde::{Deserialize, Serialize};

/// Balance of an account that has no state yet.
pub const INITIAL_BALANCE: i64 = 1_000_000;
/// Topic of the credits `accounts-a` sends to `accounts-b`.
pub const CREDITS_TOPIC: &str = "credits";

/// A transfer request, the body of a message to `accounts-a`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Debited account (at `accounts-a`).
    pub from: String,
    /// Credited account (at `accounts-b`).
    pub to: String,
    /// Amount, > 0.
    pub amount: i64,
}

/// A credit, the body of a message from `accounts-a` to `accounts-b`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// Id of the transfer (hex) this credit belongs to.
    pub transfer: String,
    /// Debited account.
    pub from: String,
    /// Credited account.
    pub to: String,
    /// Amount.
    pub amount: i64,
    /// Balance of `from` right after the debit: ties the message to the state's order.
    pub debit_balance_after: i64,
}

/// The accounts one endpoint owns: `<prefix>-0 .. <prefix>-<count-1>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// Name prefix (`a`, `b`).
    pub prefix: String,
    /// How many.
    pub count: u32,
}

impl Accounts {
    /// Accounts `<prefix>-0 ..`.
    pub fn new(prefix: &str, count: u32) -> Self {
        Self {
            prefix: prefix.to_string(),
            count,
        }
    }

    /// Name of account `index`.
    pub fn name(&self, index: u32) -> String {
        format!("{}-{index}", self.prefix)
    }

    /// Whether `name` is one of these accounts.
    pub fn contains(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < self.count && name == self.name(n))
    }
}

/// The state key of an account.
pub fn account_key(name: &str) -> Vec<u8> {
    format!("acct/{name}").into_bytes()
}

/// The account named by a state key.
pub fn account_of_key(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key).ok()?.strip_prefix("acct/")
}

/// The message id of transfer number `n`.
pub fn transfer_id(n: u64) -> MessageId {
    MessageId::from_name(&format!("t-{n}"))
}

/// `accounts-a`: debits `from`, sends a [`Credit`] to [`CREDITS_TOPIC`].
#[derive(Clone, Debug)]
pub struct DebitHandler {
    /// Accounts of this endpoint.
    pub local: Accounts,
    /// Accounts of `accounts-b` (a credit to an unknown account is rejected here, before
    /// any money moves).
    pub remote: Accounts,
    /// Messages per transaction.
    pub batch_max: usize,
}

impl Handler for DebitHandler {
    type Value = i64;

    fn keys(&self, msg: &Message, keys: &mut Vec<Vec<u8>>) {
        if let Ok(t) = serde_json::from_slice::<Transfer>(&msg.payload) {
            keys.push(account_key(&t.from));
        }
    }

    fn handle(
        &mut self,
        msg: &Message,
        state: &mut State<'_, i64>,
        out: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let t: Transfer = serde_json::from_slice(&msg.payload)
            .map_err(|e| HandlerError::reject(format!("unparseable transfer: {e}")))?;
        if t.amount <= 0 {
            return Err(HandlerError::reject(format!(
                "amount {} is not positive",
                t.amount
            )));
        }
        if !self.local.contains(&t.from) {
            return Err(HandlerError::reject(format!("unknown account {}", t.from)));
        }
        if !self.remote.contains(&t.to) {
            return Err(HandlerError::reject(format!(
                "unknown destination account {}",
                t.to
            )));
        }
        let key = account_key(&t.from);
        let balance = balance_of(state, &key)? - t.amount;
        state.put(&key, balance)?;
        let credit = Credit {
            transfer: msg.id.to_hex(),
            from: t.from,
            to: t.to.clone(),
            amount: t.amount,
            debit_balance_after: balance,
        };
        out.send(CREDITS_TOPIC, t.to.into_bytes(), to_json(&credit)?)
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }
}

/// `accounts-b`: credits `to`.
#[derive(Clone, Debug)]
pub struct CreditHandler {
    /// Accounts of this endpoint.
    pub local: Accounts,
    /// Messages per transaction.
    pub batch_max: usize,
}

impl Handler for CreditHandler {
    type Value = i64;

    fn keys(&self, msg: &Message, keys: &mut Vec<Vec<u8>>) {
        if let Ok(c) = serde_json::from_slice::<Credit>(&msg.payload) {
            keys.push(account_key(&c.to));
        }
    }

    fn handle(
        &mut self,
        msg: &Message,
        state: &mut State<'_, i64>,
        _out: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let c: Credit = serde_json::from_slice(&msg.payload)
            .map_err(|e| HandlerError::reject(format!("unparseable credit: {e}")))?;
        if !self.local.contains(&c.to) {
            return Err(HandlerError::reject(format!("unknown account {}", c.to)));
        }
        let key = account_key(&c.to);
        let balance = balance_of(state, &key)? + c.amount;
        state.put(&key, balance)
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }
}

/// A payload as JSON; a failure fails the batch (never an empty payload).
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, HandlerError> {
    serde_json::to_vec(value).map_err(|e| HandlerError::Failed {
        reason: format!("encoding a payload: {e}"),
    })
}

/// The balance of the account under `key`: an account no transfer has touched yet holds
/// [`INITIAL_BALANCE`].
fn balance_of(state: &State<'_, i64>, key: &[u8]) -> Result<i64, HandlerError> {
    Ok(match state.get(key)? {
        Some(&balance) => balance,
        None => INITIAL_BALANCE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_know_their_names_only() {
        let a = Accounts::new("a", 3);
        assert!(a.contains("a-0") && a.contains("a-2"));
        assert!(
            !a.contains("a-3") && !a.contains("b-0") && !a.contains("a-01") && !a.contains("a")
        );
        assert_eq!(account_of_key(&account_key("a-1")), Some("a-1"));
    }
}
