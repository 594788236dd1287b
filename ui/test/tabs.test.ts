/** History and Preferences tabs, and tab keyboard navigation. */
import { describe, expect, it } from "vitest";
import { button, flush, key, labelled, makeNotification, makePrefs, makeStatus, mount, type } from "./helpers";
import type { Preferences } from "../src/types";

function tab(root: HTMLElement, name: string): HTMLButtonElement {
  return root.querySelector<HTMLButtonElement>(`#tab-${name}`)!;
}

describe("tabs", () => {
  it("keyboard_arrow_keys_move_between_tabs", async () => {
    const { root, panel } = await mount(makeStatus());
    const live = tab(root, "live");
    expect(live.getAttribute("aria-selected")).toBe("true");
    expect(live.tabIndex).toBe(0);
    expect(tab(root, "history").tabIndex).toBe(-1);
    live.focus();
    key(live, "ArrowRight");
    expect(panel.currentTab).toBe("history");
    expect(document.activeElement).toBe(tab(root, "history"));
    expect(root.querySelector<HTMLElement>("#tabpanel-history")!.hidden).toBe(false);
    expect(root.querySelector<HTMLElement>("#tabpanel-live")!.hidden).toBe(true);
    key(tab(root, "history"), "End");
    expect(panel.currentTab).toBe("preferences");
    key(tab(root, "preferences"), "ArrowRight");
    expect(panel.currentTab).toBe("live");
    key(tab(root, "live"), "ArrowLeft");
    expect(panel.currentTab).toBe("preferences");
  });
});

describe("history", () => {
  it("history_lists_the_last_100_with_state", async () => {
    const { root, ipc } = await mount(makeStatus());
    ipc.handlers.history = () => [
      makeNotification({ id: "h1", title: "Maria Lopez", live: true }),
      makeNotification({ id: "h2", title: "+1 555 0100", live: false, state: "not_answered", kind: "incoming_call" }),
      makeNotification({ id: "h3", title: "Sam Lee", live: false, state: "rejected", kind: "assign_request" }),
    ];
    tab(root, "history").click();
    await flush();
    expect(ipc.callsOf("history")).toEqual([{ limit: 100 }]);
    const rows = Array.from(root.querySelectorAll(".history-list li"));
    expect(rows.map((r) => r.querySelector(".title")!.textContent)).toEqual(["Maria Lopez", "+1 555 0100", "Sam Lee"]);
    expect(rows.map((r) => r.querySelector(".state")!.textContent)).toEqual(["live", "not answered", "rejected"]);
    // History is read-only: no action buttons.
    expect(root.querySelectorAll(".history-list button")).toHaveLength(0);
    // Opening the tab again reloads.
    tab(root, "live").click();
    tab(root, "history").click();
    await flush();
    expect(ipc.callsOf("history")).toHaveLength(2);
  });

  it("history_error_is_shown", async () => {
    const { root, ipc } = await mount(makeStatus());
    ipc.handlers.history = () => {
      throw "The store is locked";
    };
    tab(root, "history").click();
    await flush();
    expect(root.querySelector("#tabpanel-history")!.textContent).toContain("The store is locked");
  });
});

describe("preferences", () => {
  it("preferences_show_keys_the_administrator_locked_as_read_only", async () => {
    const prefs = makePrefs();
    prefs.dynamics = { url: "https://contoso.crm.dynamics.com", app_id: null, locked: ["dynamics.url"] };
    const { root, ipc } = await mount(makeStatus(), { prefs });
    tab(root, "preferences").click();
    await flush();
    const p = root.querySelector<HTMLElement>("#tabpanel-preferences")!;
    expect(labelled(p, "Dynamics URL").readOnly).toBe(true);
    expect(labelled(p, "App id (optional)").readOnly).toBe(false);
    const note = [...p.querySelectorAll<HTMLElement>("p.note")].find((n) => n.textContent!.includes("administrator"))!;
    expect(note.hidden).toBe(false);
    button(p, "Save").click();
    await flush();
    expect(ipc.callsOf("set_preferences")).toEqual([{ prefs }]);
  });

  it("preferences_without_locks_are_all_editable", async () => {
    const { root } = await mount(makeStatus());
    tab(root, "preferences").click();
    await flush();
    const p = root.querySelector<HTMLElement>("#tabpanel-preferences")!;
    expect(labelled(p, "Dynamics URL").readOnly).toBe(false);
    const note = [...p.querySelectorAll<HTMLElement>("p.note")].find((n) => n.textContent!.includes("administrator"))!;
    expect(note.hidden).toBe(true);
  });

  it("preferences_round_trip", async () => {
    const { root, ipc } = await mount(makeStatus());
    tab(root, "preferences").click();
    await flush();
    expect(ipc.callsOf("get_preferences")).toHaveLength(1);
    const p = root.querySelector<HTMLElement>("#tabpanel-preferences")!;

    // The form shows what was loaded.
    expect(labelled(p, "Play a sound for new messages").checked).toBe(true);
    expect(labelled(p, "Message volume").value).toBe("80");
    expect(labelled(p, "Repeat the call sound until the call is answered").checked).toBe(true);
    expect(labelled(p, "Play a sound for requests and Assign to me offers").checked).toBe(false);
    expect(labelled(p, "Request volume").disabled).toBe(true);
    expect(labelled(p, "From").value).toBe("18:00");
    expect(labelled(p, "Saturday").checked).toBe(false);
    expect(labelled(p, "Dynamics URL").value).toBe("https://contoso.crm.dynamics.com");

    // Saving unchanged sends exactly what was loaded.
    button(p, "Save").click();
    await flush();
    expect(ipc.callsOf("set_preferences")).toEqual([{ prefs: makePrefs() }]);

    // Change everything the form offers.
    const click = (label: string) => labelled(p, label).click();
    click("Play a sound for new messages");
    type(labelled(p, "Call volume"), "45");
    click("Repeat the call sound until the call is answered");
    click("Play a sound for requests and Assign to me offers");
    type(labelled(p, "Request volume"), "30");
    click("Do not disturb now");
    type(labelled(p, "From"), "19:30");
    type(labelled(p, "To"), "07:00");
    click("Friday");
    click("Saturday");
    click("Let calls and requests addressed to me through");
    click("Start ChatBell when I log in");
    type(labelled(p, "Dynamics URL"), "https://fabrikam.crm4.dynamics.com");
    type(labelled(p, "App id (optional)"), "app-42");
    button(p, "Save").click();
    await flush();
    const expected: Preferences = {
      sounds: {
        message: { on: false, volume: 0.8 },
        call: { on: true, volume: 0.45, repeat: false },
        request: { on: true, volume: 0.3 },
      },
      dnd: {
        on: true,
        schedule: { enabled: true, from: "19:30", to: "07:00", days: ["mon", "tue", "wed", "thu", "sat"] },
        let_calls_and_requests_through: false,
      },
      start_at_login: false,
      dynamics: { url: "https://fabrikam.crm4.dynamics.com", app_id: "app-42" },
    };
    expect(ipc.callsOf("set_preferences").at(-1)).toEqual({ prefs: expected });
    expect(p.querySelector(".form-message")!.textContent).toBe("Preferences saved");

    // Reopening the tab shows what the backend now holds.
    tab(root, "live").click();
    tab(root, "preferences").click();
    await flush();
    expect(labelled(p, "Call volume").value).toBe("45");
    expect(labelled(p, "Saturday").checked).toBe(true);
    expect(labelled(p, "App id (optional)").value).toBe("app-42");
  });

  it("preferences_keep_fields_the_panel_does_not_know", async () => {
    const prefs = { ...makePrefs(), future_setting: { x: 1 } } as Preferences;
    const { root, ipc } = await mount(makeStatus(), { prefs });
    tab(root, "preferences").click();
    await flush();
    button(root.querySelector("#tabpanel-preferences")!, "Save").click();
    await flush();
    expect((ipc.callsOf("set_preferences")[0]!.prefs as Record<string, unknown>).future_setting).toEqual({ x: 1 });
  });

  it("preferences_refuse_a_bad_url_and_a_dayless_schedule", async () => {
    const { root, ipc } = await mount(makeStatus());
    tab(root, "preferences").click();
    await flush();
    const p = root.querySelector<HTMLElement>("#tabpanel-preferences")!;
    type(labelled(p, "Dynamics URL"), "http://contoso.crm.dynamics.com");
    button(p, "Save").click();
    await flush();
    expect(ipc.callsOf("set_preferences")).toHaveLength(0);
    expect(labelled(p, "Dynamics URL").getAttribute("aria-invalid")).toBe("true");
    expect(p.textContent).toContain("https://");

    type(labelled(p, "Dynamics URL"), "");
    for (const d of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]) labelled(p, d).click();
    button(p, "Save").click();
    await flush();
    expect(ipc.callsOf("set_preferences")).toHaveLength(0);
    expect(p.textContent).toContain("Pick at least one day");

    labelled(p, "Quiet hours on a schedule").click();
    button(p, "Save").click();
    await flush();
    const sent = ipc.callsOf("set_preferences")[0]!.prefs as Preferences;
    expect(sent.dynamics.url).toBeNull();
    expect(sent.dnd.schedule.enabled).toBe(false);
  });

  it("preferences_save_error_is_shown", async () => {
    const { root, ipc } = await mount(makeStatus());
    ipc.handlers.set_preferences = () => {
      throw "Could not write the settings file";
    };
    tab(root, "preferences").click();
    await flush();
    button(root.querySelector("#tabpanel-preferences")!, "Save").click();
    await flush();
    expect(root.querySelector(".form-message")!.textContent).toBe("Could not write the settings file");
  });

  it("preferences_sign_out", async () => {
    const { root, ipc } = await mount(makeStatus());
    tab(root, "preferences").click();
    await flush();
    const p = root.querySelector<HTMLElement>("#tabpanel-preferences")!;
    expect(p.querySelector(".account")!.textContent).toBe("Signed in as Jo Agent (jo@contoso.com)");
    button(p, "Sign out").click();
    await flush();
    expect(ipc.writes()).toEqual([["sign_out", undefined]]);
    ipc.push(makeStatus({ connection: "signed_out", account: null }));
    expect(button(p, "Sign out").hidden).toBe(true);
  });
});
