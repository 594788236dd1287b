/**
 * The Preferences tab: sounds per kind (R19), do not disturb and quiet hours (R18),
 * start at login, the Dynamics org; Save sends them all with `set_preferences`.
 * Fields the panel does not know are kept as loaded, so nothing is lost on a save.
 */
import type { Api } from "./ipc";
import { errorMessage } from "./ipc";
import { el, replaceChildren, setText, uid } from "./dom";
import { dynamicsUrlError } from "./format";
import { DAYS, type Day, type Preferences } from "./types";

const DAY_NAMES: Record<Day, string> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;

function checkbox(
  label: string,
  attrs: Record<string, string> = {},
  cls = "check",
): { row: HTMLElement; input: HTMLInputElement } {
  const id = uid("pref");
  const input = el("input", { type: "checkbox", id, ...attrs });
  return { row: el("div", { class: cls }, input, el("label", { for: id }, label)), input };
}

function slider(label: string): { row: HTMLElement; input: HTMLInputElement; out: HTMLOutputElement } {
  const id = uid("pref");
  const input = el("input", { type: "range", id, min: 0, max: 100, step: 5 });
  const out = el("output", { for: id, class: "volume-value" });
  input.addEventListener("input", () => setText(out, `${input.value}%`));
  return { row: el("div", { class: "range" }, el("label", { for: id }, label), input, out), input, out };
}

function volumeToSlider(v: number): string {
  const n = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  return String(Math.round(n * 100));
}

function sliderToVolume(s: string): number {
  const n = Number(s);
  return Number.isFinite(n) ? Math.round(Math.min(100, Math.max(0, n))) / 100 : 0;
}

interface SoundControls {
  on: HTMLInputElement;
  volume: HTMLInputElement;
  out: HTMLOutputElement;
}

export class PreferencesView {
  readonly root: HTMLElement;
  private readonly body: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly message: HTMLElement;
  private readonly saveButton: HTMLButtonElement;
  private readonly accountEl: HTMLElement;
  private loaded: Preferences | null = null;
  private dirty = false;
  private loading: Promise<void> | null = null;

  private readonly sound: { message: SoundControls; call: SoundControls; request: SoundControls };
  private readonly callRepeat: HTMLInputElement;
  private readonly dndOn: HTMLInputElement;
  private readonly scheduleOn: HTMLInputElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly days = new Map<Day, HTMLInputElement>();
  private readonly letThrough: HTMLInputElement;
  private readonly startAtLogin: HTMLInputElement;
  private readonly url: HTMLInputElement;
  private readonly urlError: HTMLElement;
  private readonly appId: HTMLInputElement;
  private readonly lockedNote: HTMLElement;
  private readonly scheduleError: HTMLElement;

  constructor(private readonly api: Api) {
    const mk = (name: string, label: string): { controls: SoundControls; rows: HTMLElement[] } => {
      const c = checkbox(`Play a sound for ${label}`);
      const s = slider(`${name} volume`);
      return { controls: { on: c.input, volume: s.input, out: s.out }, rows: [c.row, s.row] };
    };
    const message = mk("Message", "new messages");
    const call = mk("Call", "incoming calls");
    const request = mk("Request", "requests and Assign to me offers");
    this.sound = { message: message.controls, call: call.controls, request: request.controls };
    const repeat = checkbox("Repeat the call sound until the call is answered", {}, "check sub");
    this.callRepeat = repeat.input;

    const dnd = checkbox("Do not disturb now");
    this.dndOn = dnd.input;
    const sched = checkbox("Quiet hours on a schedule");
    this.scheduleOn = sched.input;
    const fromId = uid("pref");
    const toId = uid("pref");
    this.from = el("input", { type: "time", id: fromId, required: true });
    this.to = el("input", { type: "time", id: toId, required: true });
    this.scheduleError = el("p", { class: "field-error", "aria-live": "polite" });
    const dayBoxes = DAYS.map((d) => {
      const c = checkbox(DAY_NAMES[d].slice(0, 3), { "aria-label": DAY_NAMES[d], "data-day": d });
      this.days.set(d, c.input);
      return c.row;
    });
    const through = checkbox("Let calls and requests addressed to me through");
    this.letThrough = through.input;

    const login = checkbox("Start ChatBell when I log in");
    this.startAtLogin = login.input;

    const urlId = uid("pref");
    const urlErrId = uid("pref-err");
    const appIdId = uid("pref");
    this.url = el("input", {
      type: "url",
      id: urlId,
      placeholder: "https://contoso.crm.dynamics.com",
      autocomplete: "url",
      spellcheck: "false",
      "aria-describedby": urlErrId,
    });
    this.urlError = el("p", { id: urlErrId, class: "field-error", "aria-live": "polite" });
    this.appId = el("input", { type: "text", id: appIdId, spellcheck: "false", autocomplete: "off" });
    this.lockedNote = el("p", { class: "note", hidden: true }, "Set by your administrator for this desktop.");

    this.message = el("p", { class: "form-message", "aria-live": "polite" });
    this.saveButton = el("button", { type: "submit", class: "primary" }, "Save");
    const signOut = el("button", { type: "button", class: "sign-out" }, "Sign out");
    signOut.addEventListener("click", () => void this.signOut());
    this.accountEl = el("div", { class: "account" });

    this.form = el(
      "form",
      { class: "prefs", novalidate: true },
      el("fieldset", {},
        el("legend", {}, "Sounds"),
        ...message.rows,
        ...call.rows,
        repeat.row,
        ...request.rows,
      ),
      el("fieldset", {},
        el("legend", {}, "Do not disturb"),
        dnd.row,
        sched.row,
        el("div", { class: "times" },
          el("label", { for: fromId }, "From"), this.from,
          el("label", { for: toId }, "To"), this.to,
        ),
        el("fieldset", { class: "days" }, el("legend", {}, "On these days"), ...dayBoxes),
        this.scheduleError,
        through.row,
      ),
      el("fieldset", {},
        el("legend", {}, "Desktop"),
        login.row,
      ),
      el("fieldset", {},
        el("legend", {}, "Dynamics 365"),
        el("label", { for: urlId }, "Dynamics URL"),
        this.url,
        this.urlError,
        el("label", { for: appIdId }, "App id (optional)"),
        this.appId,
        this.lockedNote,
      ),
      el("div", { class: "buttons" }, this.saveButton),
      this.message,
    );
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    this.form.addEventListener("input", () => {
      this.dirty = true;
    });
    this.form.addEventListener("change", () => {
      this.dirty = true;
      this.syncDisabled();
    });

    this.body = el("div", { class: "prefs-body" }, el("p", {}, "Loading preferences…"));
    this.root = el(
      "section",
      { class: "preferences", "aria-labelledby": "prefs-heading" },
      el("h2", { id: "prefs-heading" }, "Preferences"),
      this.body,
      el("section", { class: "account-section", "aria-labelledby": "account-heading" },
        el("h3", { id: "account-heading" }, "Account"),
        this.accountEl,
        signOut,
      ),
    );
    this.signOutButton = signOut;
  }

  private readonly signOutButton: HTMLButtonElement;

  /** Shows who is signed in; Sign out only when someone is. */
  setAccount(account: { name: string; username: string } | null, demo: boolean): void {
    if (account) {
      setText(this.accountEl, `Signed in as ${account.name} (${account.username})${demo ? " — demo" : ""}`);
    } else {
      setText(this.accountEl, demo ? "Using the demo" : "Not signed in");
    }
    this.signOutButton.hidden = account === null;
  }

  /** Loads the preferences unless the agent has unsaved edits. */
  load(): Promise<void> {
    if (this.dirty && this.loaded) return Promise.resolve();
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const prefs = await this.api.getPreferences();
        this.fill(prefs);
        replaceChildren(this.body, this.form);
      } catch (err) {
        const retry = el("button", { type: "button" }, "Try again");
        retry.addEventListener("click", () => void this.load());
        replaceChildren(
          this.body,
          el("p", { class: "error", "aria-live": "polite" }, `Preferences could not be loaded: ${errorMessage(err)}`),
          retry,
        );
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  private fill(p: Preferences): void {
    this.loaded = p;
    this.dirty = false;
    for (const k of ["message", "call", "request"] as const) {
      const c = this.sound[k];
      c.on.checked = !!p.sounds?.[k]?.on;
      c.volume.value = volumeToSlider(p.sounds?.[k]?.volume ?? 0);
      setText(c.out, `${c.volume.value}%`);
    }
    this.callRepeat.checked = !!p.sounds?.call?.repeat;
    this.dndOn.checked = !!p.dnd?.on;
    this.scheduleOn.checked = !!p.dnd?.schedule?.enabled;
    this.from.value = p.dnd?.schedule?.from ?? "18:00";
    this.to.value = p.dnd?.schedule?.to ?? "08:00";
    const days = new Set(p.dnd?.schedule?.days ?? []);
    for (const [d, input] of this.days) input.checked = days.has(d);
    this.letThrough.checked = !!p.dnd?.let_calls_and_requests_through;
    this.startAtLogin.checked = !!p.start_at_login;
    this.url.value = p.dynamics?.url ?? "";
    this.appId.value = p.dynamics?.app_id ?? "";
    // Keys the administrator locked are shown, not editable.
    const locked = new Set(p.dynamics?.locked ?? []);
    this.url.readOnly = locked.has("dynamics.url");
    this.appId.readOnly = locked.has("dynamics.app_id");
    this.lockedNote.hidden = !(this.url.readOnly || this.appId.readOnly);
    setText(this.urlError, "");
    setText(this.scheduleError, "");
    this.syncDisabled();
  }

  private syncDisabled(): void {
    for (const k of ["message", "call", "request"] as const) {
      this.sound[k].volume.disabled = !this.sound[k].on.checked;
    }
    this.callRepeat.disabled = !this.sound.call.on.checked;
    const sched = !this.scheduleOn.checked;
    this.from.disabled = sched;
    this.to.disabled = sched;
    for (const input of this.days.values()) input.disabled = sched;
  }

  /** The preferences as the form shows them, over what was loaded. */
  read(): Preferences {
    const base: Preferences = this.loaded
      ? (JSON.parse(JSON.stringify(this.loaded)) as Preferences)
      : ({} as Preferences);
    const sound = (k: "message" | "request") => ({
      ...(base.sounds?.[k] ?? {}),
      on: this.sound[k].on.checked,
      volume: sliderToVolume(this.sound[k].volume.value),
    });
    const url = this.url.value.trim();
    const appId = this.appId.value.trim();
    return {
      ...base,
      sounds: {
        ...(base.sounds ?? {}),
        message: sound("message"),
        call: {
          ...(base.sounds?.call ?? {}),
          on: this.sound.call.on.checked,
          volume: sliderToVolume(this.sound.call.volume.value),
          repeat: this.callRepeat.checked,
        },
        request: sound("request"),
      },
      dnd: {
        ...(base.dnd ?? {}),
        on: this.dndOn.checked,
        schedule: {
          ...(base.dnd?.schedule ?? {}),
          enabled: this.scheduleOn.checked,
          from: this.from.value,
          to: this.to.value,
          days: DAYS.filter((d) => this.days.get(d)?.checked),
        },
        let_calls_and_requests_through: this.letThrough.checked,
      },
      start_at_login: this.startAtLogin.checked,
      dynamics: {
        ...(base.dynamics ?? {}),
        url: url === "" ? null : url,
        app_id: appId === "" ? null : appId,
      },
    };
  }

  private validate(p: Preferences): boolean {
    let ok = true;
    const urlErr = p.dynamics.url === null ? null : dynamicsUrlError(p.dynamics.url);
    setText(this.urlError, urlErr ?? "");
    if (urlErr) {
      this.url.setAttribute("aria-invalid", "true");
      ok = false;
    } else this.url.removeAttribute("aria-invalid");
    let schedErr = "";
    if (p.dnd.schedule.enabled) {
      if (!TIME_RE.test(p.dnd.schedule.from) || !TIME_RE.test(p.dnd.schedule.to)) {
        schedErr = "Give quiet hours as times, e.g. 18:00 to 08:00";
      } else if (p.dnd.schedule.from === p.dnd.schedule.to) {
        schedErr = "Quiet hours must start and end at different times";
      } else if (p.dnd.schedule.days.length === 0) {
        schedErr = "Pick at least one day for quiet hours";
      }
    }
    setText(this.scheduleError, schedErr);
    if (schedErr) ok = false;
    if (!ok) {
      const first = urlErr ? this.url : this.scheduleOn;
      first.focus();
    }
    return ok;
  }

  private async save(): Promise<void> {
    const prefs = this.read();
    setText(this.message, "");
    if (!this.validate(prefs)) return;
    this.saveButton.disabled = true;
    try {
      await this.api.setPreferences(prefs);
      this.loaded = prefs;
      this.dirty = false;
      this.message.classList.remove("error");
      setText(this.message, "Preferences saved");
    } catch (err) {
      this.message.classList.add("error");
      setText(this.message, errorMessage(err));
    } finally {
      this.saveButton.disabled = false;
    }
  }

  private async signOut(): Promise<void> {
    setText(this.message, "");
    try {
      await this.api.signOut();
    } catch (err) {
      this.message.classList.add("error");
      setText(this.message, errorMessage(err));
    }
  }
}
