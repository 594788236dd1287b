/** The IPC module: Tauri's global API, the contract's command names and argument keys. */
import { describe, expect, it } from "vitest";
import { Api, errorMessage, tauriIpc } from "../src/ipc";
import { makePrefs, makeStatus, MockIpc } from "./helpers";

describe("ipc", () => {
  it("tauri_ipc_uses_the_global_api_and_unwraps_event_payloads", async () => {
    const invoked: unknown[] = [];
    let handler: ((e: { event: string; id: number; payload: unknown }) => void) | undefined;
    const fakeWindow = {
      __TAURI__: {
        core: {
          invoke: (cmd: string, args?: unknown) => {
            invoked.push([cmd, args]);
            return Promise.resolve("ok");
          },
        },
        event: {
          listen: (event: string, h: typeof handler) => {
            invoked.push(["listen", event]);
            handler = h;
            return Promise.resolve(() => undefined);
          },
        },
      },
    } as unknown as Window;
    const ipc = tauriIpc(fakeWindow)!;
    expect(await ipc.invoke("status")).toBe("ok");
    const got: unknown[] = [];
    await ipc.listen("status-changed", (p) => got.push(p));
    handler!({ event: "status-changed", id: 1, payload: { unread: 3 } });
    expect(invoked).toEqual([["status", undefined], ["listen", "status-changed"]]);
    expect(got).toEqual([{ unread: 3 }]);
    expect(tauriIpc({} as Window)).toBeNull();
  });

  it("api_sends_the_contract_command_names_and_argument_keys", async () => {
    const mock = new MockIpc(makeStatus());
    const api = new Api(mock);
    await api.status();
    await api.act({ id: "n1", action: "open" });
    await api.act({ id: "n1", action: "reject", reason: "busy" });
    await api.withdrawRequest("r1", "left");
    await api.history(100);
    await api.getPreferences();
    await api.setPreferences(makePrefs());
    await api.startSignIn();
    await api.cancelSignIn();
    await api.signOut();
    await api.openVerificationUri();
    await api.useDemo();
    await api.setDynamics("https://contoso.crm.dynamics.com", null);
    expect(mock.calls).toEqual([
      ["status", undefined],
      ["act", { id: "n1", action: "open" }],
      ["act", { id: "n1", action: "reject", reason: "busy" }],
      ["withdraw_request", { requestId: "r1", reason: "left" }],
      ["history", { limit: 100 }],
      ["get_preferences", undefined],
      ["set_preferences", { prefs: makePrefs() }],
      ["start_sign_in", undefined],
      ["cancel_sign_in", undefined],
      ["sign_out", undefined],
      ["open_verification_uri", undefined],
      ["use_demo", undefined],
      ["set_dynamics", { url: "https://contoso.crm.dynamics.com", appId: null }],
    ]);
  });

  it("errors_are_shown_as_the_backend_wrote_them", () => {
    expect(errorMessage("Alex Rivera already took this chat")).toBe("Alex Rivera already took this chat");
    expect(errorMessage(new Error("boom"))).toBe("boom");
    expect(errorMessage({ message: "structured" })).toBe("structured");
    expect(errorMessage(undefined)).toMatch(/went wrong/);
  });

  it("a_status_push_during_the_first_load_wins", async () => {
    const { Panel } = await import("../src/app");
    document.body.replaceChildren();
    const root = document.createElement("div");
    document.body.appendChild(root);
    const mock = new MockIpc(makeStatus({ unread: 1 }));
    let answer!: (s: unknown) => void;
    mock.handlers.status = () => new Promise((r) => (answer = r));
    const panel = new Panel(root, { ipc: mock });
    const started = panel.start();
    await new Promise((r) => setTimeout(r, 0));
    mock.push(makeStatus({ unread: 5 }));
    answer(makeStatus({ unread: 1 })); // older than the push
    await started;
    expect(root.querySelector(".unread")!.textContent).toBe("5 unread");
    panel.destroy();
  });
});
