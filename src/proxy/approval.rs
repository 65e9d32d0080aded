//! Human approval: the prompt shown to the person, and the integrity-protected `requestState`
//! of the 2026-07-28 multi-round-trip flow.
//!
//! Handshake-era clients are asked with a server-to-client `elicitation/create` request while
//! warden holds the call. 2026-07-28 clients get an `input_required` result carrying the same
//! elicitation and a `requestState`; they retry the call with the person's answer and the state.
//! The state is `warden1.<expiry>.<nonce>.<hmac>`: an HMAC-SHA256, under a key that never
//! leaves the process, of the grant, the hash of the tool and its canonical arguments, the
//! expiry and a nonce. A state for another call, another grant, a tampered one, an expired one,
//! or one already used is refused. A redeemed call reaches the server without warden's two
//! fields (`strip_input`).

use super::engine::{Approval, CallRequest, hex};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

/// The key under which warden's elicitation travels in `inputRequests`/`inputResponses`.
pub const INPUT_KEY: &str = "warden-approval";
const PREFIX: &str = "warden1.";

/// The `params` of an `elicitation/create` asking a person to approve one call.
pub fn prompt(call: &CallRequest, approval: &Approval, form_mode: bool) -> Value {
    let args = call
        .arguments
        .as_ref()
        .map_or("{}".to_string(), |a| a.to_string());
    let reason = approval
        .reason
        .as_deref()
        .unwrap_or("the policy requires a person's approval");
    let mut params = json!({
        "message": format!(
            "Approve the tool call `{}`?\nReason: {reason}\nArguments: {args}\nRule: {} (call {})",
            call.tool,
            approval.rule,
            &approval.call_hash[..16.min(approval.call_hash.len())]
        ),
        "requestedSchema": {
            "type": "object",
            "properties": {"approve": {"type": "boolean", "title": "Approve this call", "description": reason}},
            "required": ["approve"]
        }
    });
    if form_mode {
        params["mode"] = json!("form");
    }
    params
}

/// Whether an elicitation result says yes: `accept` with `approve: true`.
pub fn accepted(answer: Option<&Value>) -> Result<(), &'static str> {
    let Some(a) = answer else {
        return Err("no answer in time");
    };
    match a.get("action").and_then(Value::as_str) {
        Some("accept") if a.pointer("/content/approve").and_then(Value::as_bool) == Some(true) => {
            Ok(())
        }
        Some("accept") => Err("not approved"),
        Some("decline") => Err("declined"),
        _ => Err("cancelled"),
    }
}

/// Issues and checks request states.
pub struct Signer {
    key: [u8; 32],
    used: Mutex<HashMap<String, u64>>,
}

impl Signer {
    /// A signer with a fresh random key (from the OS).
    pub fn new() -> std::io::Result<Signer> {
        let mut key = [0u8; 32];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(Signer::with_key(key))
    }

    pub fn with_key(key: [u8; 32]) -> Signer {
        Signer {
            key,
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, grant: &str, call_hash: &str, expiry: u64, nonce: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        for part in [grant, call_hash, &expiry.to_string(), nonce] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(mac)
    }

    /// A state valid until `expiry` (seconds since the epoch) for this grant and call.
    pub fn issue(&self, grant: &str, call_hash: &str, expiry: u64, nonce: &str) -> String {
        let tag = self
            .mac(grant, call_hash, expiry, nonce)
            .map(|m| hex(&m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{PREFIX}{expiry}.{nonce}.{tag}")
    }

    /// Whether a state was issued by warden (as opposed to the server's own).
    pub fn is_ours(state: &str) -> bool {
        state.starts_with(PREFIX)
    }

    /// Checks a state for this grant and call at `now`, and uses it up.
    pub fn redeem(
        &self,
        state: &str,
        grant: &str,
        call_hash: &str,
        now: u64,
    ) -> Result<(), &'static str> {
        let rest = state
            .strip_prefix(PREFIX)
            .ok_or("not a warden approval state")?;
        let mut parts = rest.splitn(3, '.');
        let (Some(expiry), Some(nonce), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed approval state");
        };
        let expiry: u64 = expiry.parse().map_err(|_| "malformed approval state")?;
        let tag = unhex(tag).ok_or("malformed approval state")?;
        let mac = self
            .mac(grant, call_hash, expiry, nonce)
            .ok_or("approval state cannot be checked")?;
        mac.verify_slice(&tag)
            .map_err(|_| "the approval state does not match this call and grant")?;
        if now > expiry {
            return Err("the approval expired");
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, exp| *exp >= now);
        if used.insert(nonce.to_string(), expiry).is_some() {
            return Err("the approval was already used");
        }
        Ok(())
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// The retried call without warden's `requestState` and `inputResponses`: the server never
/// asked for them. Everything else of the message is kept.
pub fn strip_input(line: &[u8]) -> Vec<u8> {
    use serde_json::value::RawValue;
    use std::collections::BTreeMap;
    let stripped = (|| {
        let mut message: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(line).ok()?;
        let mut params: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(message.get("params")?.get()).ok()?;
        params.remove("requestState");
        params.remove("inputResponses");
        message.insert(
            "params".into(),
            RawValue::from_string(serde_json::to_string(&params).ok()?).ok()?,
        );
        serde_json::to_vec(&message).ok()
    })();
    stripped.unwrap_or_else(|| line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_bind_grant_call_and_expiry_and_are_single_use() {
        let s = Signer::with_key([7; 32]);
        let state = s.issue("ci", "abc", 100, "n1");
        assert!(Signer::is_ours(&state));
        assert_eq!(
            s.redeem(&state, "other", "abc", 50),
            Err("the approval state does not match this call and grant")
        );
        assert_eq!(
            s.redeem(&state, "ci", "abd", 50),
            Err("the approval state does not match this call and grant")
        );
        assert_eq!(
            s.redeem(&state, "ci", "abc", 101),
            Err("the approval expired")
        );
        let tampered = state.replace(".100.", ".999.");
        assert!(s.redeem(&tampered, "ci", "abc", 50).is_err());
        assert_eq!(s.redeem(&state, "ci", "abc", 50), Ok(()));
        assert_eq!(
            s.redeem(&state, "ci", "abc", 51),
            Err("the approval was already used")
        );
        assert!(s.redeem("warden1.x", "ci", "abc", 0).is_err());
        assert!(s.redeem("server-state", "ci", "abc", 0).is_err());
    }

    #[test]
    fn only_accept_with_approve_true_approves() {
        assert!(
            accepted(Some(
                &json!({"action": "accept", "content": {"approve": true}})
            ))
            .is_ok()
        );
        assert_eq!(
            accepted(Some(
                &json!({"action": "accept", "content": {"approve": false}})
            )),
            Err("not approved")
        );
        assert_eq!(
            accepted(Some(&json!({"action": "decline"}))),
            Err("declined")
        );
        assert_eq!(
            accepted(Some(&json!({"action": "cancel"}))),
            Err("cancelled")
        );
        assert_eq!(accepted(None), Err("no answer in time"));
    }
}
