/**
 * ChatBell's panel: header, first-run setup, sign-in, and three tabs (Live, History,
 * Preferences). It re-renders from every `status-changed` push; each live
 * notification is kept as one element and updated in place (see NotificationItem).
 */
import { Api, errorMessage, type Ipc } from "./ipc";
import { systemClock, type Clock } from "./clock";
import { el, replaceChildren, setText, uid } from "./dom";
import {
  TITLE_LIMIT,
  connectionLabel,
  dynamicsUrlError,
  minutesLeft,
  parseTime,
  truncate,
} from "./format";
import { HistoryView } from "./history";
import { NotificationItem } from "./notificationItem";
import { PreferencesView } from "./preferences";
import { ReasonDialog } from "./reasonDialog";
import type { NotificationView, PendingRequest, Status } from "./types";

/** How often ages and countdowns are refreshed. */
export const TICK_MS = 15_000;

export interface PanelOptions {
  ipc: Ipc;
  clock?: Clock;
  /** Writes text to the clipboard; defaults to navigator.clipboard. */
  copyText?: (text: string) => Promise<void>;
}

type TabName = "live" | "history" | "preferences";

const DEFAULT_STORAGE_NOTE =
  "Sign-in is not remembered on this desktop: you will be asked to sign in again after ChatBell restarts.";

function defaultCopy(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  return Promise.reject(new Error("no clipboard"));
}

/** The live notifications to show: newest first. */
export function liveNotifications(all: NotificationView[]): NotificationView[] {
  return all
    .filter((n) => n.live)
    .map((n, i) => ({ n, i, t: parseTime(n.updated_at) ?? parseTime(n.created_at) ?? 0 }))
    .sort((a, b) => b.t - a.t || a.i - b.i)
    .map((x) => x.n);
}

export class Panel {
  readonly api: Api;
  private readonly clock: Clock;
  private readonly copyText: (text: string) => Promise<void>;
  private status: Status | null = null;
  private statusSeq = 0;
  private unlisten: (() => void) | null = null;
  private stopTick: (() => void) | null = null;
  private readonly items = new Map<string, NotificationItem>();
  private readonly withdrawDialogs = new Map<string, ReasonDialog>();
  private seenIds: Set<string> | null = null;
  private activeTab: TabName = "live";

  // Header
  private readonly connectionEl: HTMLElement;
  private readonly demoEl: HTMLElement;
  private readonly unreadEl: HTMLElement;
  private readonly dndEl: HTMLElement;
  private readonly mutedEl: HTMLElement;
  private readonly accountEl: HTMLElement;
  // Above the tabs
  private readonly setupSection: HTMLElement;
  private readonly setupHeading: HTMLElement;
  private readonly setupIntro: HTMLElement;
  private readonly setupDemo: HTMLButtonElement;
  private readonly setupLogin: HTMLElement;
  private readonly setupLoginBox: HTMLInputElement;
  private readonly setupUrl: HTMLInputElement;
  private readonly setupAppId: HTMLInputElement;
  private readonly setupError: HTMLElement;
  private readonly signinSection: HTMLElement;
  private signinKey = "";
  private signinExpiresEl: HTMLElement | null = null;
  private readonly storageNote: HTMLElement;
  private readonly orgNote: HTMLElement;
  private readonly cacheNote: HTMLElement;
  private readonly clockNote: HTMLElement;
  private readonly orgList: HTMLElement;
  private readonly loadError: HTMLElement;
  // Tabs
  private readonly tabs = new Map<TabName, { tab: HTMLButtonElement; panel: HTMLElement }>();
  private readonly liveCountEl: HTMLElement;
  // Live
  private readonly liveHeading: HTMLElement;
  private readonly liveList: HTMLUListElement;
  private readonly liveEmpty: HTMLElement;
  private readonly requestsSection: HTMLElement;
  private readonly requestsList: HTMLUListElement;
  private readonly announcer: HTMLElement;
  // Other tabs
  readonly history: HistoryView;
  readonly preferences: PreferencesView;

  readonly root: HTMLElement;

  constructor(private readonly container: HTMLElement, opts: PanelOptions) {
    this.api = new Api(opts.ipc);
    this.clock = opts.clock ?? systemClock;
    this.copyText = opts.copyText ?? defaultCopy;

    // ---- header
    this.connectionEl = el("span", { class: "connection", "data-state": "connecting" }, "Connecting…");
    this.demoEl = el("span", { class: "badge demo", hidden: true }, "Demo");
    this.unreadEl = el("span", { class: "unread" });
    this.dndEl = el("span", { class: "badge dnd", hidden: true, title: "Do not disturb is on" }, "Do not disturb");
    this.mutedEl = el("span", { class: "badge muted", hidden: true }, "Sounds muted");
    this.accountEl = el("span", { class: "account-name" });
    const header = el(
      "header",
      { class: "top" },
      el("h1", {}, "ChatBell"),
      el(
        "p",
        { class: "status-line", role: "status", "aria-live": "polite" },
        this.connectionEl,
        this.demoEl,
        this.unreadEl,
        this.dndEl,
        this.mutedEl,
      ),
      el("p", { class: "account-line" }, this.accountEl),
    );

    // ---- first run
    const urlId = uid("setup-url");
    const urlErrId = uid("setup-url-err");
    const appIdId = uid("setup-app");
    this.setupUrl = el("input", {
      type: "url",
      id: urlId,
      placeholder: "https://contoso.crm.dynamics.com",
      autocomplete: "url",
      spellcheck: "false",
      required: true,
      "aria-describedby": urlErrId,
    });
    this.setupAppId = el("input", { type: "text", id: appIdId, spellcheck: "false", autocomplete: "off" });
    this.setupError = el("p", { id: urlErrId, class: "field-error", "aria-live": "polite" });
    const connect = el("button", { type: "submit", class: "primary" }, "Connect");
    const demo = el("button", { type: "button" }, "Use demo");
    this.setupDemo = demo;
    const loginId = uid("setup-login");
    this.setupLoginBox = el("input", { type: "checkbox", id: loginId });
    this.setupLogin = el(
      "div",
      { class: "check", hidden: true },
      this.setupLoginBox,
      el("label", { for: loginId }, "Start ChatBell when I log in"),
    );
    this.setupLoginBox.addEventListener("change", () => void this.setStartAtLogin(this.setupLoginBox.checked));
    const setupForm = el(
      "form",
      { class: "setup-form", novalidate: true },
      el("label", { for: urlId }, "Dynamics 365 URL"),
      this.setupUrl,
      this.setupError,
      el("label", { for: appIdId }, "App id (optional)"),
      this.setupAppId,
      el("div", { class: "buttons" }, connect, el("span", { class: "or" }, "or"), demo),
      this.setupLogin,
    );
    setupForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submitSetup(connect);
    });
    demo.addEventListener("click", () => void this.run(() => this.api.useDemo(), this.setupError, demo));
    this.setupHeading = el("h2", { id: "setup-heading" }, "Connect ChatBell to Dynamics 365");
    this.setupIntro = el("p", {}, "Give your organisation's Dynamics 365 address, or try ChatBell with the demo.");
    this.setupSection = el(
      "section",
      { class: "setup", "aria-labelledby": "setup-heading", hidden: true },
      this.setupHeading,
      this.setupIntro,
      setupForm,
    );

    // ---- sign-in, storage note, load error
    this.signinSection = el("section", { class: "signin", "aria-labelledby": "signin-heading", hidden: true });
    this.storageNote = el("p", { class: "note storage-note", role: "note", hidden: true });
    this.cacheNote = el("p", { class: "note cache-note", role: "status", hidden: true });
    this.clockNote = el("p", { class: "note clock-note", role: "status", hidden: true });
    this.orgList = el("ul", { class: "org-problems-list" });
    this.orgNote = el(
      "section",
      { class: "note org-problems", role: "alert", "aria-label": "Your Dynamics org needs attention", hidden: true },
      el("p", {}, "ChatBell may miss chats: your Dynamics org needs attention. Show this to your administrator (chatbell doctor prints it too)."),
      this.orgList,
    );
    this.loadError = el("p", { class: "error load-error", "aria-live": "polite", hidden: true });

    // ---- tabs
    this.liveCountEl = el("span", { class: "tab-count" });
    const tablist = el("div", { class: "tabs", role: "tablist", "aria-label": "Panel" });
    const tabPanels = el("div", { class: "tab-panels" });
    const addTab = (name: TabName, label: Node[], panel: HTMLElement) => {
      const tabId = `tab-${name}`;
      const panelId = `tabpanel-${name}`;
      const tab = el("button", {
        type: "button",
        role: "tab",
        id: tabId,
        "aria-controls": panelId,
        "aria-selected": "false",
        tabindex: -1,
      });
      for (const n of label) tab.appendChild(n);
      panel.id = panelId;
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tabId);
      panel.setAttribute("tabindex", "-1");
      panel.hidden = true;
      tab.addEventListener("click", () => this.selectTab(name));
      tab.addEventListener("keydown", (e) => this.onTabKey(e, name));
      tablist.appendChild(tab);
      tabPanels.appendChild(panel);
      this.tabs.set(name, { tab, panel });
    };

    // Live tab
    this.liveHeading = el("h2", { id: "live-heading", tabindex: -1 }, "Needs you");
    this.liveList = el("ul", { class: "live-list", "aria-labelledby": "live-heading" });
    this.liveEmpty = el("p", { class: "empty" }, "Nothing needs you right now.");
    this.requestsList = el("ul", { class: "requests-list", "aria-labelledby": "requests-heading" });
    this.requestsSection = el(
      "section",
      { class: "requests", "aria-labelledby": "requests-heading", hidden: true },
      el("h2", { id: "requests-heading", tabindex: -1 }, "My pending requests"),
      this.requestsList,
    );
    const livePanel = el(
      "div",
      { class: "live" },
      el("section", { class: "notifications", "aria-labelledby": "live-heading" }, this.liveHeading, this.liveEmpty, this.liveList),
      this.requestsSection,
    );
    addTab("live", [document.createTextNode("Live "), this.liveCountEl], livePanel);

    this.history = new HistoryView(this.api);
    addTab("history", [document.createTextNode("History")], this.history.root);
    this.preferences = new PreferencesView(this.api);
    addTab("preferences", [document.createTextNode("Preferences")], this.preferences.root);

    // New items and their withdrawal are announced here, not by re-reading the list.
    this.announcer = el("div", { class: "sr-only", "aria-live": "polite", "data-role": "announcer" });

    this.root = el(
      "div",
      { class: "panel" },
      header,
      el("main", {}, this.loadError, this.setupSection, this.signinSection, this.storageNote, this.cacheNote, this.clockNote, this.orgNote, tablist, tabPanels),
      this.announcer,
    );
    replaceChildren(this.container, this.root);
    this.selectTab("live", false);
  }

  /** Subscribes to `status-changed`, loads the first status, starts the clock. */
  async start(): Promise<void> {
    try {
      this.unlisten = await this.api.onStatusChanged((s) => {
        this.statusSeq += 1;
        this.render(s);
      });
    } catch (err) {
      this.showLoadError(`Live updates are not available: ${errorMessage(err)}`);
    }
    this.stopTick = this.clock.every(TICK_MS, () => this.tick());
    await this.refresh();
  }

  /** Asks for the status; a push that arrived meanwhile wins. */
  async refresh(): Promise<void> {
    const seq = this.statusSeq;
    try {
      const s = await this.api.status();
      if (seq === this.statusSeq) this.render(s);
    } catch (err) {
      this.showLoadError(`ChatBell could not load its status: ${errorMessage(err)}`);
    }
  }

  destroy(): void {
    this.unlisten?.();
    this.unlisten = null;
    this.stopTick?.();
    this.stopTick = null;
  }

  private showLoadError(message: string): void {
    this.loadError.hidden = false;
    setText(this.loadError, message);
  }

  // ---------------------------------------------------------------- render

  /** Re-renders everything from `s`. */
  render(s: Status): void {
    this.status = s;
    this.loadError.hidden = true;
    setText(this.loadError, "");
    this.renderHeader(s);
    this.renderSetup(s);
    this.renderSignin(s);
    this.renderStorage(s);
    this.renderOrgProblems(s);
    this.cacheNote.hidden = !s.cache_note;
    setText(this.cacheNote, s.cache_note ?? "");
    this.clockNote.hidden = !s.clock_note;
    setText(this.clockNote, s.clock_note ?? "");
    this.renderLive(s);
    this.renderRequests(s.my_pending_requests ?? []);
    this.preferences.setAccount(s.account, s.demo);
  }

  private renderHeader(s: Status): void {
    const state = s.demo && s.connection === "online" ? "demo" : s.connection;
    this.connectionEl.dataset.state = state;
    setText(this.connectionEl, connectionLabel(s.connection));
    this.demoEl.hidden = !s.demo;
    setText(this.unreadEl, s.unread > 0 ? `${s.unread} unread` : "No unread");
    this.unreadEl.classList.toggle("has-unread", s.unread > 0);
    this.dndEl.hidden = !s.dnd_active;
    this.mutedEl.hidden = !s.muted;
    setText(
      this.accountEl,
      s.account ? `${s.account.name} (${s.account.username})` : s.connection === "not_configured" ? "" : "Not signed in",
    );
  }

  private renderSetup(s: Status): void {
    // First run: the demo runs behind the welcome, which asks for the agent's org.
    const welcome = !!s.welcome && s.connection !== "not_configured";
    const show = s.connection === "not_configured" || welcome;
    const wasHidden = this.setupSection.hidden;
    this.setupSection.hidden = !show;
    setText(this.setupHeading, welcome ? "Connect your Dynamics org" : "Connect ChatBell to Dynamics 365");
    setText(
      this.setupIntro,
      welcome
        ? "Welcome to ChatBell. It is showing its demo now. Give your organisation's Dynamics 365 address to get your own chats, or keep using the demo."
        : "Give your organisation's Dynamics 365 address, or try ChatBell with the demo.",
    );
    setText(this.setupDemo, welcome ? "Keep using the demo" : "Use demo");
    this.setupLogin.hidden = !welcome;
    if (welcome && wasHidden) void this.loadStartAtLogin();
    if (show && wasHidden && !this.container.contains(document.activeElement)) this.setupUrl.focus();
  }

  private async loadStartAtLogin(): Promise<void> {
    try {
      const p = await this.api.getPreferences();
      this.setupLoginBox.checked = !!p.start_at_login;
    } catch (err) {
      setText(this.setupError, errorMessage(err));
    }
  }

  /** The welcome's "Start ChatBell when I log in": saved at once. */
  private async setStartAtLogin(on: boolean): Promise<void> {
    setText(this.setupError, "");
    this.setupLoginBox.disabled = true;
    try {
      const p = await this.api.getPreferences();
      await this.api.setPreferences({ ...p, start_at_login: on });
    } catch (err) {
      this.setupLoginBox.checked = !on;
      setText(this.setupError, errorMessage(err));
    } finally {
      this.setupLoginBox.disabled = false;
    }
  }

  private renderSignin(s: Status): void {
    const prompt = s.signin;
    const key = prompt
      ? `prompt:${prompt.user_code}:${prompt.verification_uri}:${prompt.expires_at}`
      : s.browser_signin
        ? "browser"
        : s.connection === "signed_out"
          ? "signed_out"
          : "";
    if (key === this.signinKey) {
      this.tickSignin();
      return;
    }
    const hadFocus = this.signinSection.contains(document.activeElement);
    this.signinKey = key;
    this.signinExpiresEl = null;
    if (key === "") {
      this.signinSection.hidden = true;
      replaceChildren(this.signinSection);
      return;
    }
    this.signinSection.hidden = false;
    const error = el("p", { class: "field-error", "aria-live": "polite" });
    if (!prompt && s.browser_signin) {
      const cancel = el("button", { type: "button" }, "Cancel sign-in");
      cancel.addEventListener("click", () => void this.run(() => this.api.cancelSignIn(), error, cancel));
      replaceChildren(
        this.signinSection,
        el("h2", { id: "signin-heading" }, "Continue in your browser"),
        el("p", {}, "Sign in on the page that opened in your browser; ChatBell goes on by itself when you are done."),
        el("div", { class: "buttons" }, cancel),
        error,
      );
      if (hadFocus || !this.container.contains(document.activeElement)) cancel.focus();
      return;
    }
    if (!prompt) {
      const signIn = el("button", { type: "button", class: "primary" }, "Sign in");
      const browser = el("button", { type: "button" }, "Sign in with browser");
      signIn.addEventListener("click", () => void this.startSignIn(signIn, error));
      browser.addEventListener("click", () => void this.run(() => this.api.startBrowserSignIn(), error, browser));
      replaceChildren(
        this.signinSection,
        el("h2", { id: "signin-heading" }, "You are signed out"),
        el(
          "p",
          {},
          "Sign in with your Dynamics 365 account to get notifications: with a code you enter on any device, or in this desktop's browser.",
        ),
        el("div", { class: "buttons" }, signIn, browser),
        error,
      );
      if (hadFocus) signIn.focus();
      return;
    }
    const codeId = uid("code");
    const code = el("p", { id: codeId, class: "user-code", "aria-label": `Code: ${prompt.user_code.split("").join(" ")}` }, prompt.user_code);
    const open = el("button", { type: "button", class: "primary" }, "Open sign-in page");
    const copy = el("button", { type: "button", "aria-describedby": codeId }, "Copy code");
    const cancel = el("button", { type: "button" }, "Cancel sign-in");
    const copied = el("p", { class: "copy-status", "aria-live": "polite" });
    this.signinExpiresEl = el("p", { class: "expires" });
    open.addEventListener("click", () => void this.run(() => this.api.openVerificationUri(), error, open));
    cancel.addEventListener("click", () => void this.run(() => this.api.cancelSignIn(), error, cancel));
    copy.addEventListener("click", () => {
      this.copyText(prompt.user_code).then(
        () => setText(copied, "Code copied"),
        () => {
          selectText(code);
          setText(copied, "Copy did not work: the code is selected, press Ctrl+C");
        },
      );
    });
    replaceChildren(
      this.signinSection,
      el("h2", { id: "signin-heading" }, "Sign in to Dynamics 365"),
      el("p", {}, "On the sign-in page, enter this code:"),
      code,
      el("div", { class: "buttons" }, copy, open),
      copied,
      el("p", { class: "verification" }, "Sign-in page: ", el("span", { class: "uri" }, prompt.verification_uri)),
      this.signinExpiresEl,
      el("div", { class: "buttons" }, cancel),
      error,
    );
    this.tickSignin();
    if (hadFocus || !this.container.contains(document.activeElement)) open.focus();
  }

  private tickSignin(): void {
    const prompt = this.status?.signin;
    if (!prompt || !this.signinExpiresEl) return;
    const ends = parseTime(prompt.expires_at);
    if (ends === null) {
      setText(this.signinExpiresEl, "");
      return;
    }
    const left = minutesLeft(ends, this.clock.now());
    setText(this.signinExpiresEl, left ? `The code expires in ${left}.` : "The code has expired: cancel and sign in again.");
  }

  private renderStorage(s: Status): void {
    const show = s.storage === "memory_only";
    this.storageNote.hidden = !show;
    setText(this.storageNote, show ? (s.storage_note?.trim() ? s.storage_note : DEFAULT_STORAGE_NOTE) : "");
  }

  private renderOrgProblems(s: Status): void {
    const problems = s.org_problems ?? [];
    this.orgNote.hidden = problems.length === 0;
    this.orgList.replaceChildren(...problems.map((p) => el("li", {}, p)));
  }

  private renderLive(s: Status): void {
    const live = liveNotifications(s.notifications ?? []);
    const ids = new Set(live.map((n) => n.id));
    const focusLost = [...this.items.values()].some((it) => !ids.has(it.id) && it.hasFocus());
    // Removed (acted upon, withdrawn, expired)
    for (const [id, item] of this.items) {
      if (!ids.has(id)) {
        item.li.remove();
        this.items.delete(id);
      }
    }
    // Added or updated
    const fresh: NotificationView[] = [];
    const ordered: NotificationItem[] = [];
    for (const n of live) {
      let item = this.items.get(n.id);
      if (item) item.update(n);
      else {
        item = new NotificationItem(n, this.api, () => this.clock.now());
        this.items.set(n.id, item);
        if (this.seenIds && !this.seenIds.has(n.id)) fresh.push(n);
      }
      ordered.push(item);
    }
    placeInOrder(this.liveList, ordered.map((it) => it.li));
    this.seenIds = new Set([...(this.seenIds ?? []), ...ids]);
    this.liveEmpty.hidden = live.length > 0;
    this.liveList.hidden = live.length === 0;
    setText(this.liveCountEl, live.length > 0 ? `(${live.length})` : "");
    if (fresh.length === 1) this.announce(`New: ${truncate(fresh[0]!.title, TITLE_LIMIT)}`);
    else if (fresh.length > 1) this.announce(`${fresh.length} new notifications`);
    if (focusLost) this.liveHeading.focus();
  }

  private renderRequests(reqs: PendingRequest[]): void {
    this.requestsSection.hidden = reqs.length === 0;
    const ids = new Set(reqs.map((r) => r.request_id));
    const focusLost = this.requestsList.contains(document.activeElement) &&
      !ids.has((document.activeElement?.closest("li") as HTMLElement | null)?.dataset.requestId ?? "");
    const existing = new Map<string, HTMLLIElement>();
    for (const li of Array.from(this.requestsList.children) as HTMLLIElement[]) {
      const id = li.dataset.requestId ?? "";
      if (!ids.has(id)) {
        this.withdrawDialogs.get(id)?.close("done");
        li.remove();
      } else existing.set(id, li);
    }
    const ordered: HTMLLIElement[] = [];
    for (const r of reqs) {
      let li = existing.get(r.request_id);
      const text = requestText(r);
      if (!li) li = this.requestItem(r);
      else setText(li.querySelector(".request-text")!, text);
      ordered.push(li);
    }
    placeInOrder(this.requestsList, ordered);
    if (focusLost) this.liveHeading.focus();
  }

  private requestItem(r: PendingRequest): HTMLLIElement {
    const error = el("p", { class: "item-error", "aria-live": "polite" });
    const withdraw = el("button", { type: "button" }, "Withdraw…");
    const extra = el("div", { class: "extra" });
    const li = el(
      "li",
      { class: "request", "data-request-id": r.request_id },
      el("p", { class: "request-text" }, requestText(r)),
      el("div", { class: "actions" }, withdraw),
      extra,
      error,
    );
    withdraw.setAttribute("aria-label", `Withdraw ${requestText(r)}`);
    withdraw.addEventListener("click", () => {
      const open = this.withdrawDialogs.get(r.request_id);
      if (open) return open.focus();
      setText(error, "");
      const dialog = new ReasonDialog({
        heading: `Withdraw: ${truncate(requestText(r), 120)}`,
        label: "Reason (the other agent sees it)",
        submitLabel: "Withdraw request",
        submit: (reason) => this.api.withdrawRequest(r.request_id, reason),
        onClose: (how) => {
          this.withdrawDialogs.delete(r.request_id);
          if (how === "cancel" || li.isConnected) withdraw.focus();
        },
      });
      this.withdrawDialogs.set(r.request_id, dialog);
      extra.appendChild(dialog.root);
      dialog.focus();
    });
    return li;
  }

  private tick(): void {
    for (const item of this.items.values()) item.tick();
    this.tickSignin();
  }

  private announce(text: string): void {
    setText(this.announcer, text);
  }

  // ---------------------------------------------------------------- tabs

  selectTab(name: TabName, focus = true): void {
    this.activeTab = name;
    for (const [n, { tab, panel }] of this.tabs) {
      const on = n === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
    }
    if (focus) this.tabs.get(name)?.tab.focus();
    if (name === "history") void this.history.load();
    if (name === "preferences") void this.preferences.load();
  }

  get currentTab(): TabName {
    return this.activeTab;
  }

  private onTabKey(e: KeyboardEvent, name: TabName): void {
    const order: TabName[] = ["live", "history", "preferences"];
    const i = order.indexOf(name);
    let next: TabName | undefined;
    if (e.key === "ArrowRight") next = order[(i + 1) % order.length];
    else if (e.key === "ArrowLeft") next = order[(i + order.length - 1) % order.length];
    else if (e.key === "Home") next = order[0];
    else if (e.key === "End") next = order[order.length - 1];
    if (next) {
      e.preventDefault();
      this.selectTab(next);
    }
  }

  // ---------------------------------------------------------------- actions

  /** Runs a command with `button` disabled; a failure is shown in `errorEl`. */
  private async run(fn: () => Promise<unknown>, errorEl: HTMLElement, button: HTMLButtonElement): Promise<boolean> {
    setText(errorEl, "");
    button.disabled = true;
    try {
      await fn();
      return true;
    } catch (err) {
      setText(errorEl, errorMessage(err));
      return false;
    } finally {
      button.disabled = false;
    }
  }

  private async submitSetup(button: HTMLButtonElement): Promise<void> {
    const url = this.setupUrl.value.trim();
    const problem = dynamicsUrlError(url);
    if (problem) {
      setText(this.setupError, problem);
      this.setupUrl.setAttribute("aria-invalid", "true");
      this.setupUrl.focus();
      return;
    }
    this.setupUrl.removeAttribute("aria-invalid");
    const appId = this.setupAppId.value.trim();
    await this.run(() => this.api.setDynamics(url, appId === "" ? null : appId), this.setupError, button);
  }

  private async startSignIn(button: HTMLButtonElement, errorEl: HTMLElement): Promise<void> {
    setText(errorEl, "");
    button.disabled = true;
    try {
      const prompt = await this.api.startSignIn();
      // Show the code at once; the next status push says the same.
      if (this.status && !this.status.signin && prompt) {
        this.render({ ...this.status, signin: prompt });
      }
    } catch (err) {
      setText(errorEl, errorMessage(err));
    } finally {
      button.disabled = false;
    }
  }
}

/**
 * Puts `wanted` (all children of `list` or new) in that order, never moving the
 * element that holds focus: moving it would blur it.
 */
export function placeInOrder(list: HTMLElement, wanted: HTMLElement[]): void {
  const active = document.activeElement;
  const pivot = wanted.findIndex((n) => n.contains(active));
  if (pivot < 0 || !wanted[pivot]!.isConnected || wanted[pivot]!.parentElement !== list) {
    let prev: Element | null = null;
    for (const n of wanted) {
      const want: Element | null = prev ? prev.nextElementSibling : list.firstElementChild;
      if (want !== n) list.insertBefore(n, want);
      prev = n;
    }
    return;
  }
  const fixed = wanted[pivot]!;
  for (const n of wanted.slice(0, pivot)) {
    if (n.nextElementSibling !== fixed) list.insertBefore(n, fixed);
  }
  let prev: Element = fixed;
  for (const n of wanted.slice(pivot + 1)) {
    if (prev.nextElementSibling !== n) list.insertBefore(n, prev.nextElementSibling);
    prev = n;
  }
}

function requestText(r: PendingRequest): string {
  const kind = r.kind === "assign" ? "Assign" : "Discuss";
  return `${kind} request to ${truncate(r.to, 80)}: ${truncate(r.session_name, 80)}`;
}

function selectText(node: Node): void {
  const sel = window.getSelection();
  if (!sel) return;
  const range = document.createRange();
  range.selectNodeContents(node);
  sel.removeAllRanges();
  sel.addRange(range);
}

/** Mounts the panel into `container` and starts it. */
export function mountPanel(container: HTMLElement, opts: PanelOptions): Panel {
  const panel = new Panel(container, opts);
  void panel.start();
  return panel;
}
