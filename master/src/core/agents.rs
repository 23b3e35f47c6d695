//! Agents as the master sees them: registration, re-registration, the agent link's
//! calls, disconnection, pings and the unreachable transition.

use ratufa_proto::ratufa::agentlink::{self, call as agent_call};
use ratufa_proto::v1::AgentId;

use super::{ConnectionId, MasterCore, Rejection, Reply, Time};

impl MasterCore {
    /// An agent's SUBSCRIBE, arriving on the new agent-link stream `conn`.
    ///
    /// `subscribe.agent_info.id` unset: a new agent, given the id `<masterid>-S<n>`.
    /// Set: re-registration with the tasks, executors and frameworks it runs.
    ///
    /// Either way the outcome also comes out of `poll_output` for `conn`: on success a
    /// SUBSCRIBED command first (then whatever re-registration needs: KILL_TASK,
    /// SHUTDOWN_FRAMEWORK, UPDATE_FRAMEWORK…); on refusal (invalid resources, say) one
    /// ERROR command naming the fault, then `Output::Close { conn }`. The `Err` carries
    /// the same message for logging; the IO layer should still send what was queued.
    ///
    /// `conn` ids share one space with framework streams: the IO layer must never give
    /// an agent stream and a framework stream the same id.
    pub fn handle_agent_subscribe(
        &mut self,
        now: Time,
        conn: ConnectionId,
        subscribe: agent_call::Subscribe,
    ) -> Result<AgentId, Rejection> {
        let _ = (now, conn, subscribe);
        Err(Rejection::not_implemented("agents are not implemented yet"))
    }

    /// A non-SUBSCRIBE agent-link call (STATUS_UPDATE, EXECUTOR_EXITED, PONG,
    /// FRAMEWORK_MESSAGE). `conn` is the agent stream the request's `Mesos-Stream-Id`
    /// names; `call.agent_id` must be the agent subscribed on it.
    ///
    /// `Ok(Reply::Accepted)` → 202. `Err` → the rejection's status: 400 for a malformed
    /// call or an agent id that does not match the stream, 403 when `conn` is no
    /// (longer a) subscribed agent stream — the agent should then re-subscribe.
    pub fn handle_agent_call(
        &mut self,
        now: Time,
        conn: ConnectionId,
        call: agentlink::Call,
    ) -> Result<Reply, Rejection> {
        let _ = (now, conn, call);
        Err(Rejection::not_implemented("agents are not implemented yet"))
    }

    /// The agent-link stream `conn` ended. The agent is disconnected: its offers are
    /// rescinded and nothing is offered from it, its tasks are kept; it becomes
    /// unreachable if it does not come back within the ping timeouts.
    pub fn handle_agent_stream_closed(&mut self, now: Time, conn: ConnectionId) {
        let _ = (now, conn);
    }
}
