/**
 * The one door to the backend. The panel talks to Rust only through {@link Ipc};
 * {@link tauriIpc} implements it with Tauri's global API (`app.withGlobalTauri`),
 * tests pass a mock. {@link Api} names each command of the contract in `types.ts`.
 */
import type {
  ActArgs,
  NotificationView,
  Preferences,
  SignInPrompt,
  Status,
} from "./types";

/** Raw IPC: what Tauri offers, reduced to what the panel needs. */
export interface Ipc {
  /** Calls a backend command; rejects with the backend's message. */
  invoke<T>(command: string, args?: Record<string, unknown>): Promise<T>;
  /** Subscribes to a backend event; resolves to the function that unsubscribes. */
  listen<T>(event: string, handler: (payload: T) => void): Promise<() => void>;
}

interface TauriGlobal {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
  event: {
    listen<T>(
      event: string,
      handler: (event: { event: string; id: number; payload: T }) => void,
    ): Promise<() => void>;
  };
}

declare global {
  interface Window {
    __TAURI__?: TauriGlobal;
  }
}

/** The Tauri implementation, or null outside Tauri (e.g. a plain browser). */
export function tauriIpc(win: Window = window): Ipc | null {
  const tauri = win.__TAURI__;
  if (!tauri?.core?.invoke || !tauri?.event?.listen) return null;
  return {
    invoke: (command, args) => tauri.core.invoke(command, args),
    listen: <T>(event: string, handler: (payload: T) => void) =>
      tauri.event.listen<T>(event, (e) => handler(e.payload)),
  };
}

/** The backend's message for a failed command, shown to the agent as is. */
export function errorMessage(err: unknown): string {
  if (typeof err === "string" && err.trim() !== "") return err;
  if (err instanceof Error && err.message) return err.message;
  if (err && typeof err === "object" && "message" in err) {
    const m = (err as { message: unknown }).message;
    if (typeof m === "string" && m) return m;
  }
  return "Something went wrong. Please try again.";
}

/** The event pushed on every change. */
export const STATUS_CHANGED = "status-changed";

/** The contract's commands, typed. */
export class Api {
  constructor(readonly ipc: Ipc) {}

  status(): Promise<Status> {
    return this.ipc.invoke("status");
  }
  act(args: ActArgs): Promise<null> {
    const a: Record<string, unknown> = { id: args.id, action: args.action };
    if (args.reason !== undefined) a.reason = args.reason;
    return this.ipc.invoke("act", a);
  }
  withdrawRequest(requestId: string, reason: string): Promise<null> {
    return this.ipc.invoke("withdraw_request", { requestId, reason });
  }
  history(limit: number): Promise<NotificationView[]> {
    return this.ipc.invoke("history", { limit });
  }
  getPreferences(): Promise<Preferences> {
    return this.ipc.invoke("get_preferences");
  }
  setPreferences(prefs: Preferences): Promise<null> {
    return this.ipc.invoke("set_preferences", { prefs });
  }
  startSignIn(): Promise<SignInPrompt> {
    return this.ipc.invoke("start_sign_in");
  }
  startBrowserSignIn(): Promise<null> {
    return this.ipc.invoke("start_browser_sign_in");
  }
  cancelSignIn(): Promise<null> {
    return this.ipc.invoke("cancel_sign_in");
  }
  signOut(): Promise<null> {
    return this.ipc.invoke("sign_out");
  }
  openVerificationUri(): Promise<null> {
    return this.ipc.invoke("open_verification_uri");
  }
  useDemo(): Promise<null> {
    return this.ipc.invoke("use_demo");
  }
  setDynamics(url: string, appId: string | null): Promise<null> {
    return this.ipc.invoke("set_dynamics", { url, appId });
  }
  onStatusChanged(handler: (status: Status) => void): Promise<() => void> {
    return this.ipc.listen<Status>(STATUS_CHANGED, handler);
  }
}
