/** Test kit: a mock IPC that records every call, a hand-moved clock, fixtures. */
import { Panel } from "../src/app";
import type { Clock } from "../src/clock";
import type { Ipc } from "../src/ipc";
import type { NotificationView, Preferences, Status } from "../src/types";

export type Call = [command: string, args: Record<string, unknown> | undefined];
type Handler = (args: Record<string, unknown> | undefined) => unknown;

export class MockIpc implements Ipc {
  readonly calls: Call[] = [];
  readonly handlers: Record<string, Handler> = {};
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();

  constructor(public status: Status, public prefs: Preferences = makePrefs()) {
    this.handlers.status = () => this.status;
    this.handlers.act = () => null;
    this.handlers.withdraw_request = () => null;
    this.handlers.history = () => [];
    this.handlers.get_preferences = () => structuredClone(this.prefs);
    this.handlers.set_preferences = (a) => {
      this.prefs = structuredClone(a!.prefs as Preferences);
      return null;
    };
    this.handlers.start_sign_in = () => ({
      user_code: "ABCD-EFGH",
      verification_uri: "https://microsoft.com/devicelogin",
      expires_at: "2026-03-02T10:15:00Z",
    });
    for (const c of ["start_browser_sign_in", "cancel_sign_in", "sign_out", "open_verification_uri", "use_demo", "set_dynamics"]) {
      this.handlers[c] = () => null;
    }
  }

  invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> {
    this.calls.push([command, args === undefined ? undefined : structuredClone(args)]);
    const h = this.handlers[command];
    if (!h) return Promise.reject(`unknown command ${command}`);
    try {
      return Promise.resolve(h(args) as T);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  listen<T>(event: string, handler: (payload: T) => void): Promise<() => void> {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return Promise.resolve(() => set!.delete(h));
  }

  /** Pushes an event as the backend would. */
  emit(event: string, payload: unknown): void {
    for (const h of this.listeners.get(event) ?? []) h(payload);
  }

  /** Pushes a new status. */
  push(status: Status): void {
    this.status = status;
    this.emit("status-changed", status);
  }

  /** Calls of `command` (its args). */
  callsOf(command: string): (Record<string, unknown> | undefined)[] {
    return this.calls.filter(([c]) => c === command).map(([, a]) => a);
  }

  /** Calls other than the read-only ones the panel makes by itself. */
  writes(): Call[] {
    return this.calls.filter(([c]) => !["status", "history", "get_preferences"].includes(c));
  }
}

export class FakeClock implements Clock {
  private timers: { every: number; next: number; fn: () => void }[] = [];
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  every(ms: number, fn: () => void): () => void {
    const timer = { every: ms, next: this.t + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }
  /** Moves time forward, firing timers on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.t = due.next;
      due.next += due.every;
      due.fn();
    }
    this.t = end;
  }
}

export const NOW = Date.parse("2026-03-02T10:00:00Z");

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function makeNotification(over: Partial<NotificationView> = {}): NotificationView {
  return {
    id: "n1",
    kind: "new_message",
    session_id: "s1",
    request_id: null,
    title: "Maria Lopez",
    body: "Hello, is my order on its way?",
    actions: ["open"],
    count: 1,
    created_at: iso(NOW - 5 * 60_000),
    updated_at: iso(NOW - 2 * 60_000),
    live: true,
    state: "pending",
    reply_window_ends_at: null,
    ...over,
  };
}

export function makeStatus(over: Partial<Status> = {}): Status {
  return {
    unread: 0,
    connection: "online",
    signin: null,
    browser_signin: false,
    account: { name: "Jo Agent", username: "jo@contoso.com" },
    demo: false,
    dnd_active: false,
    muted: false,
    storage: "keychain",
    storage_note: null,
    welcome: false,
    my_pending_requests: [],
    notifications: [],
    ...over,
  };
}

export function makePrefs(): Preferences {
  return {
    sounds: {
      message: { on: true, volume: 0.8 },
      call: { on: true, volume: 1, repeat: true },
      request: { on: false, volume: 0.5 },
    },
    dnd: {
      on: false,
      schedule: { enabled: true, from: "18:00", to: "08:00", days: ["mon", "tue", "wed", "thu", "fri"] },
      let_calls_and_requests_through: true,
    },
    start_at_login: true,
    dynamics: { url: "https://contoso.crm.dynamics.com", app_id: null },
  };
}

/** Lets pending promises settle. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

export interface Mounted {
  panel: Panel;
  ipc: MockIpc;
  clock: FakeClock;
  root: HTMLElement;
  copied: string[];
}

/** Mounts a panel on `status`, waits for its first render. */
export async function mount(status: Status, opts: { prefs?: Preferences; copyFails?: boolean } = {}): Promise<Mounted> {
  document.body.replaceChildren();
  const root = document.createElement("div");
  root.id = "app";
  document.body.appendChild(root);
  const ipc = new MockIpc(status, opts.prefs);
  const clock = new FakeClock(NOW);
  const copied: string[] = [];
  const panel = new Panel(root, {
    ipc,
    clock,
    copyText: (t) => {
      if (opts.copyFails) return Promise.reject(new Error("denied"));
      copied.push(t);
      return Promise.resolve();
    },
  });
  await panel.start();
  await flush();
  return { panel, ipc, clock, root, copied };
}

/** The live notification's <li> for `id`. */
export function item(root: HTMLElement, id: string): HTMLElement {
  const li = root.querySelector<HTMLElement>(`.live-list li[data-id="${id}"]`);
  if (!li) throw new Error(`no live item ${id}`);
  return li;
}

/** The button with exactly this visible text inside `scope`. */
export function button(scope: ParentNode, text: string): HTMLButtonElement {
  const b = Array.from(scope.querySelectorAll("button")).find((x) => x.textContent === text);
  if (!b) {
    const all = Array.from(scope.querySelectorAll("button")).map((x) => JSON.stringify(x.textContent));
    throw new Error(`no button ${JSON.stringify(text)}; have ${all.join(", ")}`);
  }
  return b;
}

/** The control labelled `text` (by <label for> or aria-label). */
export function labelled<T extends HTMLElement = HTMLInputElement>(scope: ParentNode, text: string): T {
  for (const l of Array.from(scope.querySelectorAll("label"))) {
    if (l.textContent === text && l.htmlFor) {
      const c = document.getElementById(l.htmlFor);
      if (c) return c as T;
    }
  }
  const byAria = scope.querySelector(`[aria-label="${text}"]`);
  if (byAria) return byAria as T;
  throw new Error(`no control labelled ${JSON.stringify(text)}`);
}

export function key(target: Element, k: string): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
}

/** Types `value` into a field as a person would. */
export function type(field: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  field.value = value;
  field.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Submits the form around `control` as Enter or a submit button would. */
export function submit(control: Element): void {
  const form = control.closest("form");
  if (!form) throw new Error("no form");
  form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
}
