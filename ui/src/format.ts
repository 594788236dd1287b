/** Wording: labels, counts, ages, the reply window (R20), truncation. */
import type { Action, Connection, Kind, NotificationView } from "./types";
import { ACTION_LABELS, KIND_LABELS, OPEN_LABELS } from "./kinds";

/** The backend's and the panel's message for a blank reason (R8). */
export const REASON_REQUIRED = "A reason is required: it may not be empty or blank";

/** How much of a body the panel shows. */
export const BODY_LIMIT = 500;
/** How much of a title the panel shows. */
export const TITLE_LIMIT = 150;

/** Cuts `text` to `limit` characters (code points, never half an emoji), with an ellipsis. */
export function truncate(text: string, limit: number): string {
  const chars = Array.from(text);
  if (chars.length <= limit) return text;
  return chars.slice(0, limit - 1).join("").trimEnd() + "…";
}

/** The button label for `action` on notification `n`: the toast's own words (./kinds.ts). */
export function actionLabel(action: Action, n: Pick<NotificationView, "kind">): string {
  if (action === "open") return OPEN_LABELS[n.kind] ?? "Open";
  // An action this panel does not know yet still gets a readable button.
  return ACTION_LABELS[action] ?? stateLabel(String(action));
}

/** A short word for the kind, shown above the title. */
export function kindLabel(kind: Kind): string {
  return KIND_LABELS[kind] ?? String(kind);
}

/** "3 messages" for message kinds, "2 calls" for calls; null when there is nothing to say. */
export function countLabel(n: Pick<NotificationView, "kind" | "count">): string | null {
  if (!Number.isFinite(n.count) || n.count <= 1) return null;
  if (n.kind === "new_message" || n.kind === "new_conversation") return `${n.count} messages`;
  if (n.kind === "incoming_call") return `${n.count} calls`;
  return null;
}

/** Parses an ISO date; null when absent or invalid. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** "just now", "5 min ago", "2 h ago", "3 d ago". */
export function ageLabel(thenMs: number, nowMs: number): string {
  const min = Math.floor((nowMs - thenMs) / 60_000);
  if (min < 1) return "just now";
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export type ReplyWindowLevel = "ok" | "warn" | "closed";

/** The reply-window countdown (R20): a warning under an hour, "closed" once past. */
export function replyWindow(endsMs: number, nowMs: number): { text: string; level: ReplyWindowLevel } {
  const left = endsMs - nowMs;
  if (left <= 0) return { text: "Reply window closed: only a template message can be sent", level: "closed" };
  const totalMin = Math.floor(left / 60_000);
  if (totalMin < 60) {
    const m = totalMin < 1 ? "less than 1 min" : `${totalMin} min`;
    return { text: `Reply window: ${m} left, closing soon`, level: "warn" };
  }
  const h = Math.floor(totalMin / 60);
  const m = totalMin % 60;
  return { text: `Reply window: ${h} h ${m} min left`, level: "ok" };
}

/** "14 min", "less than 1 min", or null once past. */
export function minutesLeft(endsMs: number, nowMs: number): string | null {
  const left = endsMs - nowMs;
  if (left <= 0) return null;
  const min = Math.floor(left / 60_000);
  return min < 1 ? "less than 1 min" : `${min} min`;
}

const CONNECTION_LABELS: Record<Connection, string> = {
  online: "Online",
  offline: "Offline",
  connecting: "Connecting…",
  signed_out: "Signed out",
  not_configured: "Not set up",
};

export function connectionLabel(c: Connection): string {
  return CONNECTION_LABELS[c] ?? String(c);
}

/** A backend state word for people: "not_answered" → "not answered". */
export function stateLabel(state: string): string {
  return state.replace(/_/g, " ");
}

/** A local date and time for history. */
export function timeLabel(ms: number): string {
  return new Date(ms).toLocaleString(undefined, {
    dateStyle: "short",
    timeStyle: "short",
  });
}

/** True when `reason` has something besides white space. */
export function reasonIsValid(reason: string): boolean {
  return reason.trim() !== "";
}

/** An error message for a Dynamics URL, or null when it is a valid https:// URL. */
export function dynamicsUrlError(url: string): string | null {
  const u = url.trim();
  if (u === "") return "Enter your Dynamics 365 address, e.g. https://contoso.crm.dynamics.com";
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    return "This is not a web address. It starts with https://, e.g. https://contoso.crm.dynamics.com";
  }
  // As the configuration file: https, or http on this machine only (a local test org).
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)) {
    return "The address must start with https://";
  }
  if (!parsed.hostname || (!parsed.hostname.includes(".") && !loopback)) {
    return "The address needs a host name, e.g. contoso.crm.dynamics.com";
  }
  if (parsed.username || parsed.password) return "The address may not contain a user name or password";
  return null;
}
