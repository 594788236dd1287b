/**
 * The IPC contract between ChatBell's panel (this webview) and the Rust backend.
 *
 * Commands are called with `invoke(name, args)`; argument keys are camelCase here and
 * arrive snake_case in Rust (Tauri's default renaming). A command that fails rejects
 * with a string message, shown to the agent as is. Payloads use serde's default
 * snake_case field names. Dates are ISO 8601 UTC strings.
 *
 * Commands:
 * - `status()` → {@link Status}
 * - `act({ id, action, reason? })` → `null`
 * - `withdraw_request({ requestId, reason })` → `null`
 * - `history({ limit })` → {@link NotificationView}[] (newest first, live or not)
 * - `get_preferences()` → {@link Preferences}; `set_preferences({ prefs })` → `null`
 * - `start_sign_in()` → {@link SignInPrompt}; `start_browser_sign_in()` → `null` (the browser opens);
 *   `cancel_sign_in()` → `null`; `sign_out()` → `null`
 * - `open_verification_uri()` → `null` (opens the sign-in page in the system browser)
 * - `use_demo()` → `null`; `set_dynamics({ url, appId })` → `null`
 *
 * Event: `status-changed`, payload {@link Status}, pushed on every change.
 */

/** The kinds and actions, and their words, are the core's (generated: ./kinds.ts). */
export type { Action, Kind } from "./kinds";
export { ACTIONS } from "./kinds";
import type { Action, Kind } from "./kinds";

/** One notification, as the panel shows it. */
export interface NotificationView {
  /** Stable id: a burst of messages in one session keeps the same id (R16). Passed back to `act`. */
  id: string;
  /** What the notification is about. */
  kind: Kind;
  /** The Dynamics session (conversation) it concerns, if any. */
  session_id: string | null;
  /** The assign/discuss request it concerns (R8), if any. */
  request_id: string | null;
  /** Short headline, e.g. the customer's name or number. Written by strangers: plain text only. */
  title: string;
  /** Preview text, e.g. the newest message. Written by strangers: plain text only; may be long. */
  body: string;
  /** The actions the agent may take now, main action first; each becomes a button (R21). */
  actions: Action[];
  /** How many events this notification stands for, e.g. 3 messages in one session (R16). */
  count: number;
  /** When the notification was first raised (ISO 8601 UTC). */
  created_at: string;
  /** When it last changed, e.g. the newest message (ISO 8601 UTC). */
  updated_at: string;
  /** True while it still asks for the agent's attention; false once acted on, withdrawn or expired. */
  live: boolean;
  /** Backend state word, e.g. "pending", "accepted", "rejected", "withdrawn", "dismissed". Shown in history. */
  state: string;
  /** WhatsApp only: when the 24-hour free-form reply window closes (R20, ISO 8601 UTC); null for SMS or unknown. */
  reply_window_ends_at: string | null;
}

/** A device-code sign-in in progress. */
export interface SignInPrompt {
  /** The code the agent types on the sign-in page. */
  user_code: string;
  /** The sign-in page's address (shown; opened by `open_verification_uri`). */
  verification_uri: string;
  /** When the code stops working (ISO 8601 UTC). */
  expires_at: string;
}

/** Connection to Dynamics 365. */
export type Connection =
  | "online"
  | "offline"
  | "connecting"
  | "signed_out"
  | "not_configured";

/** A request the agent sent to someone else and that is still waiting (R8). */
export interface PendingRequest {
  /** Passed back to `withdraw_request`. */
  request_id: string;
  /** The session's display name (customer name or number). */
  session_name: string;
  /** The target agent's display name. */
  to: string;
  /** Assign (take over) or Discuss (join). */
  kind: "assign" | "discuss";
}

/** Everything the panel shows; pushed with `status-changed` on every change. */
export interface Status {
  /** Sessions with unread incoming messages visible to the agent (R3); 0 means none. */
  unread: number;
  /** Connection to Dynamics 365; `not_configured` on first run. */
  connection: Connection;
  /** A device-code sign-in in progress, or null. */
  signin: SignInPrompt | null;
  /** True while a browser sign-in waits for the browser to come back. */
  browser_signin: boolean;
  /** The signed-in agent, or null. */
  account: { name: string; username: string } | null;
  /** True when running against the built-in demo instead of a real org. */
  demo: boolean;
  /** True while do-not-disturb is in force (switch or quiet hours, R18). */
  dnd_active: boolean;
  /** True when sounds are muted on this desktop. */
  muted: boolean;
  /** Where the sign-in is kept: the OS keychain, or memory only (lost at exit). */
  storage: "keychain" | "memory_only";
  /** Why storage is memory only, to show the agent; null when there is nothing to say. */
  storage_note: string | null;
  /**
   * First run, in the demo: the panel offers to connect the agent's Dynamics org
   * (`set_dynamics`) or to keep the demo (`use_demo`, which only answers this).
   */
  welcome: boolean;
  /** The agent's own requests still waiting for an answer (R8). */
  my_pending_requests: PendingRequest[];
  /** Current notifications; the panel lists the `live` ones, newest first. */
  notifications: NotificationView[];
  /**
   * What the org check found wrong with the org (a table, column, choice value
   * or privilege the mapping needs; the clock), each saying what to do. Empty
   * when all is well or not checked yet.
   */
  org_problems?: string[];
  /**
   * What the agent should know of ChatBell's local cache: it cannot be written
   * (a full disk; ChatBell keeps notifying) or it was rebuilt from Dynamics.
   */
  cache_note?: string | null;
  /** This desktop's clock is far off Dynamics' (ChatBell keeps Dynamics' time). */
  clock_note?: string | null;
}

/** One kind's sound (R19). */
export interface SoundPref {
  /** Play a sound for this kind. */
  on: boolean;
  /** Volume, 0..1. */
  volume: number;
}

/** A day of the week, for the quiet-hours schedule. */
export type Day = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

/** Every day, Monday first. */
export const DAYS: readonly Day[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** The agent's preferences on this desktop. */
export interface Preferences {
  /** Sounds per kind (R19). */
  sounds: {
    /** New messages and conversations. */
    message: SoundPref;
    /** Incoming calls; `repeat` rings until answered, ended or dismissed (R5). */
    call: SoundPref & { repeat: boolean };
    /** Assign/discuss requests and Assign to me offers. */
    request: SoundPref;
  };
  /** Do not disturb (R18). */
  dnd: {
    /** The switch: DND on now. */
    on: boolean;
    /** Quiet hours. `from`/`to` are local "HH:MM"; `to` earlier than `from` spans midnight. */
    schedule: { enabled: boolean; from: string; to: string; days: Day[] };
    /** Calls and requests addressed to me still sound and show while DND is on. */
    let_calls_and_requests_through: boolean;
  };
  /** Start ChatBell when the agent logs in to the desktop. */
  start_at_login: boolean;
  /**
   * The Dynamics org: its URL (https://…) and optional app id; null when unset.
   * `locked` lists the keys the administrator set for every user of this desktop
   * (e.g. "dynamics.url", "dynamics.app_id"): shown, not editable.
   */
  dynamics: { url: string | null; app_id: string | null; locked?: string[] };
}

/** Arguments of `act`. */
export interface ActArgs {
  /** The notification's id. */
  id: string;
  /** What to do. */
  action: Action;
  /** Required, non-blank, for `reject`; omitted otherwise. */
  reason?: string;
}
