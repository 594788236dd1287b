/**
 * A preview of the panel in a plain browser, without Rust: a fake `window.__TAURI__`
 * with demo data, then the real entry point. Built by `npm run preview` into
 * dist-preview/ (never into dist/). Query: ?c=signed_out | not_configured | offline,
 * ?tab=history | preferences, ?demo, ?welcome (first run, with ?demo), ?locked (the admin
 * locked the Dynamics URL).
 */
import type { NotificationView, Preferences, Status } from "../src/types";

const NOW = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const q = new URLSearchParams(location.search);
const connection = (q.get("c") ?? "online") as Status["connection"];

const notifications: NotificationView[] = [
  {
    id: "a", kind: "new_message", session_id: "s1", request_id: null, title: "Maria Lopez",
    body: "Hello, is my order on its way? I ordered it last week and it still hasn't arrived.",
    actions: ["open"], count: 3, created_at: iso(NOW - 600_000), updated_at: iso(NOW - 120_000),
    live: true, state: "pending", reply_window_ends_at: iso(NOW + 42 * 60_000),
  },
  {
    id: "b", kind: "assign_request", session_id: "s2", request_id: "q1", title: "Sam Lee asks you to take over +1 555 0100",
    body: "Customer wants a refund", actions: ["accept", "reject"], count: 1, created_at: iso(NOW - 300_000),
    updated_at: iso(NOW - 300_000), live: true, state: "pending", reply_window_ends_at: null,
  },
  {
    id: "c", kind: "new_conversation", session_id: "s3", request_id: null, title: "+1 555 0199", body: "hi",
    actions: ["accept", "dismiss", "block"], count: 1, created_at: iso(NOW - 3_600_000), updated_at: iso(NOW - 3_600_000),
    live: true, state: "pending", reply_window_ends_at: iso(NOW + 23 * 3_600_000),
  },
];

const status: Status = {
  unread: 3, connection, account: connection === "online" ? { name: "Jo Agent", username: "jo@contoso.com" } : null,
  signin: connection === "signed_out"
    ? { user_code: "FQK7-M2XP", verification_uri: "https://microsoft.com/devicelogin", expires_at: iso(NOW + 900_000) }
    : null,
  browser_signin: false,
  demo: q.has("demo"), dnd_active: false, muted: false, storage: "memory_only",
  storage_note: "sign-in is not remembered on this desktop: no keychain service is running",
  welcome: q.has("welcome"),
  my_pending_requests: [{ request_id: "r1", session_name: "+44 7700 900123", to: "Alex Rivera", kind: "assign" }],
  notifications: connection === "not_configured" ? [] : notifications,
};

let prefs: Preferences = {
  sounds: { message: { on: true, volume: 0.8 }, call: { on: true, volume: 1, repeat: true }, request: { on: true, volume: 0.6 } },
  dnd: { on: false, schedule: { enabled: false, from: "18:00", to: "08:00", days: ["mon", "tue", "wed", "thu", "fri"] }, let_calls_and_requests_through: true },
  start_at_login: true,
  dynamics: { url: "https://contoso.crm.dynamics.com", app_id: null, locked: q.has("locked") ? ["dynamics.url"] : [] },
};

const listeners: ((e: { event: string; id: number; payload: unknown }) => void)[] = [];
function push(): void {
  for (const l of listeners) l({ event: "status-changed", id: 0, payload: structuredClone(status) });
}

async function invoke(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
  await new Promise((r) => setTimeout(r, 150));
  switch (cmd) {
    case "status": return structuredClone(status);
    case "history": return structuredClone(notifications);
    case "get_preferences": return structuredClone(prefs);
    case "set_preferences": prefs = args.prefs as Preferences; return null;
    case "use_demo": status.welcome = false; push(); return null;
    case "act": {
      const n = status.notifications.find((x) => x.id === args.id);
      if (!n) throw "This notification is gone";
      if (args.action === "accept" && n.id === "c") throw "Alex Rivera already took this chat";
      if (args.action === "reject" && !String(args.reason ?? "").trim()) throw "A reason is required: it may not be empty or blank";
      n.live = false;
      n.state = String(args.action);
      push();
      return null;
    }
    case "withdraw_request":
      status.my_pending_requests = status.my_pending_requests.filter((r) => r.request_id !== args.requestId);
      push();
      return null;
    default: return null;
  }
}

window.__TAURI__ = {
  core: { invoke: invoke as never },
  event: {
    listen: (async (_event: string, handler: (typeof listeners)[number]) => {
      listeners.push(handler);
      return () => undefined;
    }) as never,
  },
};

await import("../src/main");
const tab = q.get("tab");
if (tab) setTimeout(() => document.getElementById(`tab-${tab}`)?.click(), 300);
