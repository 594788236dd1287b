/** Header, first run, sign-in and the storage note. */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { NOW, button, flush, iso, labelled, makePrefs, makeStatus, mount, type } from "./helpers";

const prompt = {
  user_code: "FQK7-M2XP",
  verification_uri: "https://microsoft.com/devicelogin",
  expires_at: iso(NOW + 14 * 60_000 + 30_000),
};

describe("header", () => {
  it("header_shows_connection_unread_dnd_and_demo", async () => {
    const { root, ipc } = await mount(makeStatus({ unread: 4, dnd_active: true, demo: true, muted: true }));
    const line = root.querySelector("header .status-line")!;
    expect(line.getAttribute("aria-live")).toBe("polite");
    expect(root.querySelector(".connection")!.textContent).toBe("Online");
    expect(root.querySelector<HTMLElement>(".badge.demo")!.hidden).toBe(false);
    expect(root.querySelector(".unread")!.textContent).toBe("4 unread");
    expect(root.querySelector<HTMLElement>(".badge.dnd")!.hidden).toBe(false);
    expect(root.querySelector<HTMLElement>(".badge.muted")!.hidden).toBe(false);
    expect(root.querySelector(".account-name")!.textContent).toBe("Jo Agent (jo@contoso.com)");

    for (const [connection, label] of [
      ["offline", "Offline"],
      ["connecting", "Connecting…"],
      ["signed_out", "Signed out"],
    ] as const) {
      ipc.push(makeStatus({ connection, account: null }));
      expect(root.querySelector(".connection")!.textContent).toBe(label);
      expect(root.querySelector<HTMLElement>(".connection")!.dataset.state).toBe(connection);
    }
    expect(root.querySelector<HTMLElement>(".badge.demo")!.hidden).toBe(true);
    expect(root.querySelector<HTMLElement>(".badge.dnd")!.hidden).toBe(true);
    expect(root.querySelector(".unread")!.textContent).toBe("No unread");
    expect(root.querySelector(".account-name")!.textContent).toBe("Not signed in");
  });

  it("semantic_landmarks_and_headings", async () => {
    const { root } = await mount(makeStatus());
    expect(root.querySelector("header h1")!.textContent).toBe("ChatBell");
    expect(root.querySelector("main")).not.toBeNull();
    const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
    expect(tabs.map((t) => t.textContent)).toEqual(["Live ", "History", "Preferences"]);
    for (const t of tabs) expect(document.getElementById(t.getAttribute("aria-controls")!)!.getAttribute("role")).toBe("tabpanel");
    expect(root.querySelector("#tabpanel-live h2")!.textContent).toBe("Needs you");
  });
});

describe("sign-in", () => {
  it("signin_code_is_shown_large_with_a_button_to_open_the_page", async () => {
    const { root, ipc, clock, copied } = await mount(makeStatus({ connection: "signed_out", account: null, signin: prompt }));
    const section = root.querySelector<HTMLElement>("section.signin")!;
    expect(section.hidden).toBe(false);
    const code = section.querySelector<HTMLElement>(".user-code")!;
    expect(code.textContent).toBe("FQK7-M2XP");
    // Large and selectable: the stylesheet gives .user-code a big font and user-select: all.
    const css = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), "../static/panel.css"), "utf8");
    const rule = /\.user-code\s*\{([^}]*)\}/.exec(css)![1]!;
    expect(Number(/font-size:\s*([\d.]+)rem/.exec(rule)![1])).toBeGreaterThanOrEqual(1.5);
    expect(rule).toMatch(/user-select:\s*all/);
    expect(section.querySelector(".uri")!.textContent).toBe("https://microsoft.com/devicelogin");
    expect(section.textContent).toContain("The code expires in 14 min.");

    button(section, "Open sign-in page").click();
    await flush();
    expect(ipc.writes()).toEqual([["open_verification_uri", undefined]]);

    button(section, "Copy code").click();
    await flush();
    expect(copied).toEqual(["FQK7-M2XP"]);
    expect(section.querySelector(".copy-status")!.textContent).toBe("Code copied");

    clock.advance(15 * 60_000);
    expect(section.textContent).toContain("The code has expired");

    button(section, "Cancel sign-in").click();
    await flush();
    expect(ipc.writes().at(-1)).toEqual(["cancel_sign_in", undefined]);
  });

  it("signin_copy_failure_selects_the_code_instead", async () => {
    const { root } = await mount(makeStatus({ connection: "signed_out", signin: prompt }), { copyFails: true });
    button(root, "Copy code").click();
    await flush();
    expect(root.querySelector(".copy-status")!.textContent).toMatch(/selected/);
    expect(window.getSelection()!.toString()).toBe("FQK7-M2XP");
  });

  it("signed_out_offers_sign_in", async () => {
    const { root, ipc } = await mount(makeStatus({ connection: "signed_out", account: null }));
    const section = root.querySelector<HTMLElement>("section.signin")!;
    expect(section.hidden).toBe(false);
    button(section, "Sign in").click();
    await flush();
    expect(ipc.writes()).toEqual([["start_sign_in", undefined]]);
    // The code from start_sign_in shows at once, before the status push.
    expect(section.querySelector(".user-code")!.textContent).toBe("ABCD-EFGH");
    // Once signed in, the section goes away.
    ipc.push(makeStatus());
    expect(section.hidden).toBe(true);
  });

  it("signin_with_browser_waits_for_the_browser_and_can_be_cancelled", async () => {
    const { root, ipc } = await mount(makeStatus({ connection: "signed_out", account: null }));
    const section = root.querySelector<HTMLElement>("section.signin")!;
    button(section, "Sign in with browser").click();
    await flush();
    expect(ipc.writes()).toEqual([["start_browser_sign_in", undefined]]);
    ipc.push(makeStatus({ connection: "signed_out", account: null, browser_signin: true }));
    expect(section.querySelector("h2")!.textContent).toBe("Continue in your browser");
    expect(section.querySelector(".user-code")).toBeNull();
    button(section, "Cancel sign-in").click();
    await flush();
    expect(ipc.writes()).toEqual([["start_browser_sign_in", undefined], ["cancel_sign_in", undefined]]);
    ipc.push(makeStatus({ connection: "signed_out", account: null }));
    expect(section.querySelector("h2")!.textContent).toBe("You are signed out");
  });

  it("signin_error_is_shown_inline", async () => {
    const { root, ipc } = await mount(makeStatus({ connection: "signed_out", account: null }));
    ipc.handlers.start_sign_in = () => {
      throw "Dynamics is unreachable: check the network";
    };
    button(root, "Sign in").click();
    await flush();
    expect(root.querySelector("section.signin .field-error")!.textContent).toBe("Dynamics is unreachable: check the network");
  });

  it("memory_only_storage_is_explained", async () => {
    const note = "sign-in is not remembered on this desktop: no keychain service is running";
    const { root, ipc } = await mount(makeStatus({ storage: "memory_only", storage_note: note }));
    const el = root.querySelector<HTMLElement>(".storage-note")!;
    expect(el.hidden).toBe(false);
    expect(el.textContent).toBe(note);
    ipc.push(makeStatus({ storage: "memory_only", storage_note: null }));
    expect(el.textContent).toMatch(/not remembered/);
    ipc.push(makeStatus({ storage: "keychain" }));
    expect(el.hidden).toBe(true);
  });
});

describe("org problems", () => {
  it("org_problems_are_listed_until_fixed", async () => {
    const problems = [
      "privileges: missing prvAssigncts_Conversation (to take a chat for you (Accept, Assign to me): add Assign on cts_conversation to your security role)",
      "table cb_chatsession: cts_conversation: it has no column cts_acceptedon (schema.cb_chatsession.columns.cb_acceptedon)",
    ];
    const { root, ipc } = await mount(makeStatus({ org_problems: problems }));
    const note = root.querySelector<HTMLElement>(".org-problems")!;
    expect(note.hidden).toBe(false);
    expect(note.getAttribute("role")).toBe("alert");
    expect([...note.querySelectorAll("li")].map((li) => li.textContent)).toEqual(problems);
    ipc.push(makeStatus({ org_problems: [] }));
    expect(note.hidden).toBe(true);
    expect(note.querySelectorAll("li").length).toBe(0);
  });
});

describe("the local cache", () => {
  it("cache_note_says_what_is_wrong_until_it_is_not", async () => {
    const note = "ChatBell cannot save to its cache on this computer (the disk is full). It keeps notifying you.";
    const { root, ipc } = await mount(makeStatus({ cache_note: note }));
    const el = root.querySelector<HTMLElement>(".cache-note")!;
    expect(el.hidden).toBe(false);
    expect(el.textContent).toBe(note);
    ipc.push(makeStatus({ cache_note: null }));
    expect(el.hidden).toBe(true);
  });
});

describe("the desktop's clock", () => {
  it("clock_note_says_the_desktops_clock_is_off_until_it_is_not", async () => {
    const note = "This desktop's clock is 4 min ahead of Dynamics'. ChatBell keeps Dynamics' time.";
    const { root, ipc } = await mount(makeStatus({ clock_note: note }));
    const el = root.querySelector<HTMLElement>(".clock-note")!;
    expect(el.hidden).toBe(false);
    expect(el.textContent).toBe(note);
    expect(el.getAttribute("role")).toBe("status");
    ipc.push(makeStatus({ clock_note: null }));
    expect(el.hidden).toBe(true);
  });
});

describe("first run", () => {
  it("first_run_asks_for_the_dynamics_url_or_demo", async () => {
    const { root, ipc } = await mount(makeStatus({ connection: "not_configured", account: null }));
    const setup = root.querySelector<HTMLElement>("section.setup")!;
    expect(setup.hidden).toBe(false);
    const url = labelled(setup, "Dynamics 365 URL");
    const appId = labelled(setup, "App id (optional)");

    // Not https: refused next to the field, nothing sent.
    for (const bad of ["", "contoso.crm.dynamics.com", "http://contoso.crm.dynamics.com", "https://"]) {
      type(url, bad);
      button(setup, "Connect").click();
      await flush();
      const err = document.getElementById(url.getAttribute("aria-describedby")!)!;
      expect(err.textContent).not.toBe("");
      expect(url.getAttribute("aria-invalid")).toBe("true");
    }
    expect(ipc.writes()).toEqual([]);

    type(url, " https://contoso.crm4.dynamics.com ");
    button(setup, "Connect").click();
    await flush();
    type(appId, "d1f0c2aa-1111-2222-3333-444455556666");
    button(setup, "Connect").click();
    await flush();
    expect(ipc.writes()).toEqual([
      ["set_dynamics", { url: "https://contoso.crm4.dynamics.com", appId: null }],
      ["set_dynamics", { url: "https://contoso.crm4.dynamics.com", appId: "d1f0c2aa-1111-2222-3333-444455556666" }],
    ]);

    button(setup, "Use demo").click();
    await flush();
    expect(ipc.writes().at(-1)).toEqual(["use_demo", undefined]);

    ipc.push(makeStatus({ connection: "online", demo: true }));
    expect(setup.hidden).toBe(true);
  });

  it("first_run_in_the_demo_welcomes_and_offers_to_connect_or_keep_the_demo", async () => {
    const { root, ipc } = await mount(
      makeStatus({ demo: true, welcome: true, account: { name: "Dana Demo", username: "demo.agent@chatbell.example" } }),
      { prefs: { ...makePrefs(), start_at_login: false } },
    );
    const setup = root.querySelector<HTMLElement>("section.setup")!;
    expect(setup.hidden).toBe(false);
    expect(setup.querySelector("h2")!.textContent).toBe("Connect your Dynamics org");
    expect(setup.textContent).toContain("demo");
    // The demo's notifications stay live behind the welcome.
    expect(root.querySelector(".connection")!.textContent).toBe("Online");

    // Start at login: saved at once, with the rest of the preferences as they were.
    const login = labelled(setup, "Start ChatBell when I log in");
    expect(login.checked).toBe(false);
    login.click();
    await flush();
    expect(ipc.callsOf("set_preferences")).toEqual([{ prefs: { ...makePrefs(), start_at_login: true } }]);

    // The agent's org.
    type(labelled(setup, "Dynamics 365 URL"), "https://contoso.crm4.dynamics.com");
    button(setup, "Connect").click();
    await flush();
    expect(ipc.writes().at(-1)).toEqual(["set_dynamics", { url: "https://contoso.crm4.dynamics.com", appId: null }]);

    // Or the demo: the backend answers with welcome off, and the section goes.
    button(setup, "Keep using the demo").click();
    await flush();
    expect(ipc.writes().at(-1)).toEqual(["use_demo", undefined]);
    ipc.push(makeStatus({ demo: true, welcome: false }));
    expect(setup.hidden).toBe(true);
  });

  it("first_run_start_at_login_failure_is_shown_and_undone", async () => {
    const { root, ipc } = await mount(makeStatus({ demo: true, welcome: true }), {
      prefs: { ...makePrefs(), start_at_login: false },
    });
    ipc.handlers.set_preferences = () => {
      throw "cannot write the autostart entry";
    };
    const setup = root.querySelector<HTMLElement>("section.setup")!;
    const login = labelled(setup, "Start ChatBell when I log in");
    login.click();
    await flush();
    expect(login.checked).toBe(false);
    expect(setup.querySelector(".field-error")!.textContent).toBe("cannot write the autostart entry");
  });

  it("first_run_backend_error_is_shown_next_to_the_field", async () => {
    const { root, ipc } = await mount(makeStatus({ connection: "not_configured", account: null }));
    ipc.handlers.set_dynamics = () => {
      throw "No Dynamics 365 organisation answers at this address";
    };
    const setup = root.querySelector<HTMLElement>("section.setup")!;
    type(labelled(setup, "Dynamics 365 URL"), "https://nope.example.com");
    button(setup, "Connect").click();
    await flush();
    expect(setup.querySelector(".field-error")!.textContent).toBe("No Dynamics 365 organisation answers at this address");
  });
});
