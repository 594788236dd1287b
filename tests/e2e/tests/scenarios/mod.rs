//! The scenarios and what they share: the desktop, the org, Dana's ChatBell
//! (the agent under test, `demo.agent@chatbell.example`, member of both teams),
//! and helpers that read what the desktop shows.

use chatbell_e2e::app::ChatBell;
use chatbell_e2e::bus::Notify;
use chatbell_e2e::desktop::Desktop;
use chatbell_e2e::org::{Channel, Org};
use chatbell_e2e::sound;
use chatbell_e2e::tray;
use chatbell_e2e::wait::{wait_until, Limit, SYNC};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

mod rules;

/// Every scenario, in the order they run.
pub const NAMES: &[&str] = &[
    "r1_agent_outside_the_teams_gets_nothing",
    "r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it",
    "r2_accept_in_the_panel_takes_the_session_in_dynamics",
    "r3_tray_icon_pixels_show_the_unread_count",
    "r4_new_message_in_my_chat_offers_view_chat_to_me_alone",
    "r5_call_rings_and_stops_when_answered_elsewhere",
    "r6_idle_offer_yes_moves_ownership_and_a_late_yes_is_told_who_won",
    "r7_assigned_through_dynamics_notifies_the_new_owner",
    "r8_accept_and_reject_with_a_reason_in_the_panel",
    "r8_requester_is_told_and_may_withdraw",
    "r8_request_withdrawn_or_expired_is_taken_down",
    "r9_dismiss_is_mine_only_and_block_is_for_everyone",
    "r11_new_message_plays_the_message_sound",
    "r12_clicking_a_toast_opens_the_chats_deep_link",
    "r16_a_burst_of_messages_updates_one_toast",
    "r18_do_not_disturb_silences_toasts_but_not_the_count_or_requests",
    "r14_r17_killed_and_restarted_delivers_once_with_a_summary",
];

/// The WhatsApp configuration's idle timeout in this org (R6), set before
/// ChatBell first syncs.
pub const IDLE_MINUTES: i64 = 1;

/// A live notification as the panel lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct PanelItem {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub actions: Vec<String>,
    pub error: String,
}

pub struct World {
    pub desk: Desktop,
    pub org: Org,
    pub bin: PathBuf,
    pub dana: Option<ChatBell>,
    scenario: String,
    shots: u32,
    serial: u32,
    run_tag: String,
}

impl World {
    pub fn new(desk: Desktop, org: Org, bin: PathBuf) -> World {
        let run_tag = format!("{:04}", chrono::Utc::now().timestamp() % 10_000);
        World {
            desk,
            org,
            bin,
            dana: None,
            scenario: String::new(),
            shots: 0,
            serial: 0,
            run_tag,
        }
    }

    /// The org as an administrator sets it up before the shift: a short idle
    /// timeout on WhatsApp (R6).
    pub async fn configure_org(&self) -> Result<(), String> {
        self.org
            .configure(
                Channel::WhatsApp,
                json!({"cb_idletimeoutminutes": IDLE_MINUTES}),
            )
            .await
    }

    pub fn dana(&self) -> &ChatBell {
        self.dana.as_ref().expect("Dana's ChatBell runs")
    }

    pub fn dana_mut(&mut self) -> &mut ChatBell {
        self.dana.as_mut().expect("Dana's ChatBell runs")
    }

    /// Waits until Dana's ChatBell has a tray item whose icon can be read.
    pub async fn wait_for_tray(&self) -> Result<(), String> {
        let pid = self.dana().pid;
        let bus = &self.desk.bus;
        wait_until(Limit::secs(30), "ChatBell's tray icon", || async {
            tray::badge_of(bus, pid).await.ok().map(|_| ())
        })
        .await
    }

    pub async fn run(&mut self, name: &str) -> Result<(), String> {
        self.scenario = name.to_string();
        self.shots = 0;
        self.clean_desk().await?;
        rules::run(self, name).await
    }

    /// Every session closed and every request withdrawn in Dynamics; then the
    /// tray shows no count.
    async fn clean_desk(&mut self) -> Result<(), String> {
        if self.dana.as_ref().is_none_or(|d| !d.alive()) {
            return Err("Dana's ChatBell is not running".into());
        }
        self.org.close_everything().await?;
        self.wait_badge(None).await
    }

    /// After a scenario: a screenshot of the panel; on failure the toasts, the
    /// recording and a screenshot of the whole screen too.
    pub async fn after(&mut self, name: &str, failed: bool) {
        self.scenario = name.to_string();
        let _ = self.shot("end").await;
        if failed {
            let dir = self.desk.artefacts.scenario(name);
            self.desk.bus.toasts.dump(&dir.join("toasts.txt"));
            self.desk.recording.save_wav(&dir.join("sound.wav"));
            self.desk.screenshot_root(&dir.join("screen.png"));
        }
    }

    /// Ends everything; keeps the logs only when something failed.
    pub async fn teardown(&mut self, all_ok: bool) {
        let logs = self.desk.artefacts.logs();
        self.desk.bus.toasts.dump(&logs.join("toasts.txt"));
        if let Some(mut d) = self.dana.take() {
            d.keep_logs(&self.desk);
            d.quit(&self.desk).await;
        }
        self.desk.stop();
        if all_ok {
            let _ = std::fs::remove_dir_all(&logs);
        }
    }

    /// A customer name and a never-seen number, unique in this run.
    pub fn customer(&mut self, first: &str) -> (String, String) {
        self.serial += 1;
        let tag = self
            .scenario
            .split('_')
            .next()
            .unwrap_or("x")
            .to_uppercase();
        (
            format!("{first} {tag}-{}", self.serial),
            format!("+1555{}{:04}", self.run_tag, self.serial),
        )
    }

    /// Saves a screenshot of the screen, where the panel is, as
    /// `<scenario>/<n>-<label>.png`.
    pub async fn shot(&mut self, label: &str) -> Result<(), String> {
        self.shots += 1;
        let path = self
            .desk
            .artefacts
            .scenario(&self.scenario)
            .join(format!("{:02}-{label}.png", self.shots));
        self.desk.screenshot_root(&path);
        Ok(())
    }

    // ----- toasts -----------------------------------------------------------------

    /// A position in the notification server's record.
    pub fn mark(&self) -> usize {
        self.desk.bus.toasts.mark()
    }

    /// Toasts Dana's ChatBell sent since `mark` that mention `text`.
    pub fn toasts_about(&self, mark: usize, text: &str) -> Vec<Notify> {
        let pid = self.dana().pid;
        self.desk
            .bus
            .toasts
            .matching(mark, text)
            .into_iter()
            .filter(|n| n.pid == Some(pid))
            .collect()
    }

    /// Waits for a toast from Dana's ChatBell mentioning `text` since `mark`.
    pub async fn toast(&self, mark: usize, text: &str, limit: Limit) -> Result<Notify, String> {
        wait_until(limit, &format!("a toast about {text:?}"), || async {
            self.toasts_about(mark, text).into_iter().next_back()
        })
        .await
    }

    /// Waits until ChatBell takes toast `id` down (CloseNotification).
    pub async fn toast_withdrawn(&self, mark: usize, id: u32) -> Result<(), String> {
        let toasts = &self.desk.bus.toasts;
        wait_until(SYNC, &format!("toast {id} to be withdrawn"), || async {
            toasts.closed_by_client_since(mark, id).then_some(())
        })
        .await
    }

    /// Clicks a toast's action like a person (`default`: the toast itself).
    pub async fn click_toast(&self, id: u32, key: &str) -> Result<(), String> {
        self.desk.bus.click(id, key).await
    }

    /// A conversation that does notify Dana: once its toast is up, ChatBell has
    /// synced past every change made before it (changes are read in order), so
    /// the absence of a toast for those is a fact, not a guess.
    pub async fn sentinel(&mut self) -> Result<(), String> {
        let (name, number) = self.customer("Sentinel");
        let mark = self.mark();
        let s = self.org.new_session(Channel::Sms, &name, &number).await?;
        self.org.customer_writes(s, "sentinel").await?;
        self.toast(mark, &name, SYNC).await.map(|_| ())
    }

    // ----- tray -------------------------------------------------------------------

    /// What the tray icon's pixels read: `None` for no badge.
    pub async fn badge(&self) -> Result<Option<String>, String> {
        tray::badge_of(&self.desk.bus, self.dana().pid).await
    }

    /// Waits until the tray icon reads `want`.
    pub async fn wait_badge(&self, want: Option<&str>) -> Result<(), String> {
        let last = std::sync::Mutex::new(None);
        let r = wait_until(SYNC, &format!("the tray icon to read {want:?}"), || async {
            let got = self.badge().await;
            let hit = matches!(&got, Ok(b) if b.as_deref() == want);
            *last.lock().unwrap() = Some(got);
            hit.then_some(())
        })
        .await;
        r.map_err(|e| format!("{e} (last read: {:?})", last.lock().unwrap()))
    }

    // ----- panel --------------------------------------------------------------------

    /// The live notifications the panel lists, top to bottom.
    pub async fn panel_items(&self) -> Result<Vec<PanelItem>, String> {
        let panel = self.dana().panel()?;
        let v = panel
            .script(
                r#"return Array.from(document.querySelectorAll('.live-list li.notification')).map(li => ({
                    id: li.dataset.id || '',
                    kind: li.dataset.kind || '',
                    title: li.querySelector('.title')?.textContent || '',
                    body: li.querySelector('.body')?.textContent || '',
                    actions: Array.from(li.querySelectorAll('.actions button')).map(b => b.dataset.action || ''),
                    error: li.querySelector('.item-error')?.textContent || '',
                }));"#,
                json!([]),
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Waits for the panel to list a notification mentioning `text`.
    pub async fn panel_item(&self, text: &str) -> Result<PanelItem, String> {
        wait_until(SYNC, &format!("the panel to list {text:?}"), || async {
            self.panel_items()
                .await
                .ok()?
                .into_iter()
                .find(|i| i.title.contains(text) || i.body.contains(text))
        })
        .await
    }

    /// Waits for the panel to list nothing mentioning `text`.
    pub async fn panel_item_gone(&self, text: &str) -> Result<(), String> {
        wait_until(SYNC, &format!("the panel to drop {text:?}"), || async {
            let items = self.panel_items().await.ok()?;
            (!items
                .iter()
                .any(|i| i.title.contains(text) || i.body.contains(text)))
            .then_some(())
        })
        .await
    }

    /// Clicks a notification's action button in the panel (a real click).
    pub async fn click_in_panel(&self, item_id: &str, action: &str) -> Result<(), String> {
        let panel = self.dana().panel()?;
        let css = format!(
            ".live-list li.notification[data-id=\"{item_id}\"] button[data-action=\"{action}\"]"
        );
        let b = wait_until(Limit::secs(10), &format!("the {action} button"), || async {
            panel.find(&css).await.ok().flatten()
        })
        .await?;
        panel.click(&b).await
    }

    /// Waits for an element of the panel.
    pub async fn element(&self, css: &str) -> Result<chatbell_e2e::webdriver::Element, String> {
        let panel = self.dana().panel()?;
        wait_until(Limit::secs(15), &format!("{css} in the panel"), || async {
            panel.find(css).await.ok().flatten()
        })
        .await
    }

    /// Clicks an element of the panel (a real click).
    pub async fn click(&self, css: &str) -> Result<(), String> {
        let e = self.element(css).await?;
        self.dana().panel()?.click(&e).await
    }

    /// Types into a field of the panel.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let e = self.element(css).await?;
        let panel = self.dana().panel()?;
        panel.clear(&e).await?;
        panel.type_text(&e, text).await
    }

    /// The text of an element of the panel ("" when there is none).
    pub async fn text_of(&self, css: &str) -> Result<String, String> {
        let panel = self.dana().panel()?;
        match panel.find(css).await? {
            Some(e) => panel.text(&e).await,
            None => Ok(String::new()),
        }
    }

    /// Waits until a row in Dynamics satisfies `check`.
    pub async fn row_becomes(
        &self,
        set: &str,
        id: uuid::Uuid,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, String> {
        let org = &self.org;
        let check = &check;
        wait_until(SYNC, what, || async move {
            let row = org.row(set, id).await.ok()?;
            check(&row).then_some(row)
        })
        .await
    }

    /// Waits until Dynamics shows `session` owned by `user`.
    pub async fn owned_by(&self, session: uuid::Uuid, user: &str) -> Result<(), String> {
        let id = self.org.user_id(user).await?;
        self.row_becomes(
            "cb_chatsessions",
            session,
            &format!("Dynamics to show the session owned by {user}"),
            |row| chatbell_e2e::org::owner_of(row).map(|(_, o)| o) == Some(id),
        )
        .await
        .map(|_| ())
    }

    /// Shows a tab of the panel: live, history or preferences.
    pub async fn tab(&self, name: &str) -> Result<(), String> {
        self.click(&format!("#tab-{name}")).await
    }

    /// Switches do not disturb from the tray menu ("Do not disturb"), then waits
    /// for the panel's header to show it. (The panel's preferences form cannot be
    /// saved against a loopback org: see tests/e2e/README.md.)
    pub async fn set_dnd(&self, on: bool) -> Result<(), String> {
        let panel = self.dana().panel()?;
        let shown = || async {
            panel
                .script(
                    "return !document.querySelector('.badge.dnd').hidden",
                    json!([]),
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
        };
        if shown().await == Some(on) {
            return Ok(());
        }
        let item = tray::item_of(&self.desk.bus, self.dana().pid).ok_or("no tray item")?;
        self.desk
            .bus
            .click_tray_menu(&item, "Do not disturb")
            .await?;
        wait_until(
            Limit::secs(15),
            "the header's do-not-disturb badge",
            || async { (shown().await == Some(on)).then_some(()) },
        )
        .await
    }

    // ----- sound --------------------------------------------------------------------

    /// Waits until `freq` has sounded for `min` since recording position `from`.
    pub async fn heard(
        &self,
        from: usize,
        freq: f64,
        min: Duration,
        limit: Limit,
    ) -> Result<(), String> {
        let rec = &self.desk.recording;
        wait_until(
            limit,
            &format!("{freq} Hz to sound for {min:?}"),
            || async { sound::sounds_for(&rec.since(from), freq, min).then_some(()) },
        )
        .await
    }

    /// Waits until the last `quiet` of the recording (after `from`) has no `freq`.
    pub async fn silent(
        &self,
        from: usize,
        freq: f64,
        quiet: Duration,
        limit: Limit,
    ) -> Result<(), String> {
        let rec = &self.desk.recording;
        let need = sound::samples_in(quiet);
        wait_until(limit, &format!("{quiet:?} without {freq} Hz"), || async {
            let s = rec.since(from);
            if s.len() < need {
                return None;
            }
            let tail = s.get(s.len() - need..)?;
            sound::windows_with(tail, freq).is_empty().then_some(())
        })
        .await
    }
}
