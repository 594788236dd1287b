// Generated from chatbell-core's notification kinds and actions
// (NotificationKind::info, Action::label): do not edit. After changing them,
// CHATBELL_BLESS=1 cargo test -p chatbell-app --test kinds writes this file anew.

/** What the agent can do with a notification. */
export type Action = "open" | "accept" | "reject" | "yes" | "no" | "dismiss" | "block" | "block_anyway";

/** Every action, in the order the panel lays buttons out when it has to choose. */
export const ACTIONS: readonly Action[] = ["open", "accept", "reject", "yes", "no", "dismiss", "block", "block_anyway"];

/** What a notification is about. */
export type Kind = "new_conversation" | "new_message" | "incoming_call" | "assign_to_me" | "assigned_to_me" | "assign_request" | "discuss_request" | "request_outcome" | "action_failed" | "catch_up_summary" | "reply_window_closing" | "number_blocked";

/** Every kind. */
export const KINDS: readonly Kind[] = ["new_conversation", "new_message", "incoming_call", "assign_to_me", "assigned_to_me", "assign_request", "discuss_request", "request_outcome", "action_failed", "catch_up_summary", "reply_window_closing", "number_blocked"];

/** The word above an item of each kind. */
export const KIND_LABELS: Record<Kind, string> = {
  new_conversation: "New conversation",
  new_message: "New message",
  incoming_call: "Incoming call",
  assign_to_me: "Assign to me?",
  assigned_to_me: "Assigned to you",
  assign_request: "Assign request",
  discuss_request: "Discuss request",
  request_outcome: "Request answered",
  action_failed: "Action failed",
  catch_up_summary: "While you were away",
  reply_window_closing: "Reply window closing",
  number_blocked: "Number blocked",
};

/** The label of each kind's main action, "open". */
export const OPEN_LABELS: Record<Kind, string> = {
  new_conversation: "View chat",
  new_message: "View chat",
  incoming_call: "View chat",
  assign_to_me: "View chat",
  assigned_to_me: "View chat",
  assign_request: "View chat",
  discuss_request: "View chat",
  request_outcome: "View chat",
  action_failed: "View chat",
  catch_up_summary: "Show chats",
  reply_window_closing: "View chat",
  number_blocked: "View chat",
};

/** Every other action's label, the same on every kind. */
export const ACTION_LABELS: Record<Exclude<Action, "open">, string> = {
  accept: "Accept",
  reject: "Reject…",
  yes: "Yes, assign to me",
  no: "No",
  dismiss: "Dismiss",
  block: "Block number",
  block_anyway: "Block anyway",
};
