//! What a session does with a `tools/call` the engine has ruled on: forward it (holding its
//! counter slots until the server answers), answer it, or hold it for a person, by elicitation
//! or by the 2026-07-28 `requestState` retry, and what the person's answer then does.

use super::{Action, Actions, ApprovalJob, Held, Pending, Session};
use crate::proxy::approval::{self, INPUT_KEY};
use crate::proxy::audit::unix_now;
use crate::proxy::engine::{CallRequest, Era, Identity, Ruling};
use crate::proxy::jsonrpc::{self, Id};
use crate::proxy::limits::Reservation;
use serde_json::{Value, json};
use smallvec::smallvec;
use tokio::sync::oneshot;

impl Session {
    pub(super) fn ruling(
        &self,
        line: Vec<u8>,
        call: CallRequest,
        who: &Identity,
        elicitation: bool,
    ) -> Actions {
        match self.engine.decide(&call, who) {
            Ruling::Forward(reservation) => {
                self.state()
                    .pending
                    .insert(call.id.clone(), Pending::ToolsCall(reservation));
                smallvec![Action::ToServer(line)]
            }
            Ruling::Answer(bytes) => smallvec![Action::ToClient(bytes)],
            Ruling::Approval(approval) if !elicitation => {
                let why = "the client cannot show an approval prompt (no elicitation capability)";
                smallvec![Action::ToClient(
                    self.engine.refused(&call, who, approval, why),
                )]
            }
            Ruling::Approval(approval) if call.era == Era::Stateless => {
                // 2026-07-28: answer `input_required`; the client retries with the answer.
                let expiry = unix_now() + self.engine.approval_ttl.as_secs();
                let nonce = {
                    let mut s = self.state();
                    s.next_id += 1;
                    format!("{}-{}", who.session, s.next_id)
                };
                let state =
                    self.engine
                        .signer
                        .issue(&who.grant, &approval.call_hash, expiry, &nonce);
                let form_mode = self.state().protocol_version.is_some();
                self.engine.asked(&call, who, &approval);
                let result = json!({
                    "resultType": "input_required",
                    "inputRequests": {INPUT_KEY: {"method": "elicitation/create", "params": approval::prompt(&call, &approval, form_mode)}},
                    "requestState": state,
                });
                smallvec![Action::ToClient(jsonrpc::result_response(
                    &call.id, &result,
                ))]
            }
            Ruling::Approval(approval) => {
                let (tx, rx) = oneshot::channel();
                let mut s = self.state();
                s.next_id += 1;
                let elicitation_id = Id(format!("\"warden-approval-{}\"", s.next_id));
                s.approvals.insert(elicitation_id.clone(), tx);
                let form_mode = s
                    .protocol_version
                    .as_deref()
                    .is_some_and(|v| v >= "2025-11-25");
                drop(s);
                self.engine.asked(&call, who, &approval);
                let request = jsonrpc::request(
                    &elicitation_id,
                    "elicitation/create",
                    &approval::prompt(&call, &approval, form_mode),
                );
                smallvec![Action::Approve(Box::new(ApprovalJob {
                    request,
                    answer: rx,
                    held: Held {
                        elicitation_id,
                        original: line,
                        call,
                        approval,
                    },
                }))]
            }
        }
    }

    /// A 2026-07-28 retry carrying warden's `requestState` and the person's answer.
    pub(super) fn redeem(
        &self,
        line: Vec<u8>,
        call: CallRequest,
        who: &Identity,
        state: &str,
        answer: Option<&Value>,
    ) -> Actions {
        let approval = match self.engine.decide(&call, who) {
            Ruling::Approval(a) => a,
            // The policy changed since the question was asked: its current answer holds.
            Ruling::Forward(reservation) => {
                return self.forward_call(approval::strip_input(&line), &call, reservation);
            }
            Ruling::Answer(bytes) => return smallvec![Action::ToClient(bytes)],
        };
        if let Err(why) =
            self.engine
                .signer
                .redeem(state, &who.grant, &approval.call_hash, unix_now())
        {
            return smallvec![Action::ToClient(
                self.engine.refused(&call, who, approval, why),
            )];
        }
        if let Err(why) = approval::accepted(answer) {
            return smallvec![Action::ToClient(
                self.engine.refused(&call, who, approval, why),
            )];
        }
        match self.engine.approved(&call, who, approval) {
            Ruling::Forward(reservation) => {
                self.forward_call(approval::strip_input(&line), &call, reservation)
            }
            Ruling::Answer(bytes) => smallvec![Action::ToClient(bytes)],
            Ruling::Approval(_) => smallvec![Action::ToClient(self.engine.internal_error(
                &call,
                who,
                "approval loop",
            ))],
        }
    }

    fn forward_call(&self, line: Vec<u8>, call: &CallRequest, reservation: Reservation) -> Actions {
        self.state()
            .pending
            .insert(call.id.clone(), Pending::ToolsCall(reservation));
        smallvec![Action::ToServer(line)]
    }

    /// The human's answer (`None`: timed out or the connection closed).
    pub fn finish_approval(&self, held: Held, answer: Option<Value>) -> Actions {
        self.state().approvals.remove(&held.elicitation_id);
        let who = self.identity();
        if let Err(why) = approval::accepted(answer.as_ref()) {
            return smallvec![Action::ToClient(self.engine.refused(
                &held.call,
                &who,
                held.approval,
                why,
            ))];
        }
        match self.engine.approved(&held.call, &who, held.approval) {
            Ruling::Forward(reservation) => {
                self.state()
                    .pending
                    .insert(held.call.id.clone(), Pending::ToolsCall(reservation));
                smallvec![Action::ToServer(held.original)]
            }
            Ruling::Answer(bytes) => smallvec![Action::ToClient(bytes)],
            Ruling::Approval(_) => smallvec![Action::ToClient(self.engine.internal_error(
                &held.call,
                &who,
                "approval loop",
            ))],
        }
    }
}
