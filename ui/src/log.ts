/**
 * The panel's own logs go to ChatBell's log files: uncaught errors, rejected
 * promises, and `console.warn` / `console.error`, through tauri-plugin-log's
 * `log` command (the Rust side writes them with the rest, under the `webview`
 * target). Nothing the panel shows goes there, only what went wrong.
 */
import type { Ipc } from "./ipc";

/** tauri-plugin-log's levels, as numbers on the wire. */
export const LogLevel = { Trace: 1, Debug: 2, Info: 3, Warn: 4, Error: 5 } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

/** The longest message sent, in characters. */
export const MAX_LOG_CHARS = 2_000;

function text(parts: unknown[]): string {
  const s = parts
    .map((p) => {
      if (typeof p === "string") return p;
      if (p instanceof Error) return `${p.name}: ${p.message}`;
      try {
        return JSON.stringify(p);
      } catch {
        return String(p);
      }
    })
    .join(" ");
  return s.length > MAX_LOG_CHARS ? s.slice(0, MAX_LOG_CHARS) + "…" : s;
}

/** Sends one line to the log; a failure to log is dropped, never shown. */
export function sendLog(ipc: Ipc, level: LogLevel, parts: unknown[], location = "panel"): void {
  ipc.invoke("plugin:log|log", { level, message: text(parts), location }).catch(() => {});
}

/** Forwards the panel's errors and warnings to the log from now on. */
export function forwardLogs(ipc: Ipc, win: Window & typeof globalThis = window): void {
  win.addEventListener("error", (e) => sendLog(ipc, LogLevel.Error, [e.message || "error", `${e.filename}:${e.lineno}`]));
  win.addEventListener("unhandledrejection", (e) => sendLog(ipc, LogLevel.Error, ["unhandled rejection:", e.reason]));
  const console = win.console;
  for (const [name, level] of [
    ["warn", LogLevel.Warn],
    ["error", LogLevel.Error],
  ] as const) {
    const original = console[name].bind(console);
    console[name] = (...args: unknown[]) => {
      original(...args);
      sendLog(ipc, level, args);
    };
  }
}
