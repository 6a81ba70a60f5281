//! The TUI's one state, and how keys, mouse clicks and engine events change it. No drawing and
//! no I/O here: what the user asks for comes out as [`Action`]s for the loop to carry out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use termcall_shared::names::ECHO_USER;
use termcall_shared::{Callees, UserInfo, UserState};

use super::input::{Edit, LineEditor};
use termcall_shared::limits::MAX_CHAT_BYTES;
use crate::engine::{CallState, CallStats, Command, Event, HubState, Path};

/// Chat lines kept for scrollback.
const SCROLLBACK: usize = 1000;
/// How long a notice stays in the status line.
const NOTICE_FOR: Duration = Duration::from_secs(6);

/// What the loop should do after a key or an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Engine(Command),
    /// Ring the terminal bell (an incoming call).
    Bell,
    Quit,
}

/// Where keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// Single keys are commands (call, hang up, mute, ...).
    Keys,
    /// Keys type into the chat line.
    Chat,
}

/// The call as the UI shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallView {
    pub peer: String,
    pub state: CallState,
    pub path: Option<Path>,
    pub incoming: bool,
    pub reason: Option<String>,
    pub since: Instant,
}

/// Who wrote a chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    Me,
    Peer(String),
    /// termcall itself: call started, ended, errors.
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Local time, HH:MM.
    pub time: String,
    pub author: Author,
    pub text: String,
}

/// Whether a notice is good news or bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Error,
}

/// Screen areas from the last draw, for mouse clicks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hits {
    /// The roster's list rows, and the index of the user on its first row (it scrolls).
    pub roster: Rect,
    pub roster_first: usize,
    /// How many chat rows there are to scroll through (set by the chat pane).
    pub chat_rows: usize,
}

pub struct App {
    pub me: String,
    pub hub_url: String,
    pub hub: Option<HubState>,
    pub roster: Vec<UserInfo>,
    pub selected: usize,
    pub call: Option<CallView>,
    pub stats: Option<CallStats>,
    pub chat: VecDeque<ChatLine>,
    /// Chat rows scrolled back from the newest (0 = following the newest).
    pub scroll: usize,
    pub input: LineEditor,
    pub focus: Focus,
    pub help: bool,
    pub self_view: bool,
    pub audio_muted: bool,
    pub video_muted: bool,
    pub notice: Option<(String, Tone, Instant)>,
    pub hits: Hits,
    /// Call this user as soon as they are online (the demo).
    pub autocall: Option<String>,
    /// Users marked in the roster (space) for a group call.
    pub marked: Vec<String>,
    /// The call in progress is a group call (invitations can be sent).
    pub group_call: bool,
    /// The sound devices, once asked for (`d`, `o`).
    pub devices: Option<devices::Devices>,
}

impl App {
    pub fn new(me: &str, hub_url: &str) -> App {
        App {
            me: me.to_owned(),
            hub_url: hub_url.to_owned(),
            hub: None,
            roster: Vec::new(),
            selected: 0,
            call: None,
            stats: None,
            chat: VecDeque::new(),
            scroll: 0,
            input: LineEditor::default(),
            focus: Focus::Keys,
            help: false,
            self_view: true,
            audio_muted: false,
            video_muted: false,
            notice: None,
            hits: Hits::default(),
            autocall: None,
            marked: Vec::new(),
            group_call: false,
            devices: None,
        }
    }

    /// The incoming call waiting for an answer, if any.
    pub fn ringing_here(&self) -> Option<&str> {
        self.call.as_ref().filter(|c| c.incoming && c.state == CallState::Ringing).map(|c| c.peer.as_str())
    }

    /// Whether a call is under way (not ended).
    pub fn in_call(&self) -> bool {
        self.call.as_ref().is_some_and(|c| c.state != CallState::Ended)
    }

    pub fn selected_user(&self) -> Option<&UserInfo> {
        self.roster.get(self.selected)
    }

    /// The notice to show now, if it has not expired.
    pub fn current_notice(&self) -> Option<(&str, Tone)> {
        self.notice.as_ref().filter(|(_, _, at)| at.elapsed() < NOTICE_FOR).map(|(t, tone, _)| (t.as_str(), *tone))
    }

    pub fn notify(&mut self, text: impl Into<String>, tone: Tone) {
        self.notice = Some((text.into(), tone, Instant::now()));
    }

    fn say(&mut self, author: Author, text: impl Into<String>) {
        if self.chat.len() == SCROLLBACK {
            self.chat.pop_front();
        }
        self.chat.push_back(ChatLine { time: chrono::Local::now().format("%H:%M").to_string(), author, text: text.into() });
    }

    /// An engine event; may answer with actions (the bell, the demo's call).
    pub fn on_engine(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::Ready { name } => {
                self.me = name;
                self.hub = Some(HubState::Connected);
            }
            Event::Roster { users } => {
                let keep = self.selected_user().map(|u| u.name.clone());
                self.roster = users;
                self.selected = keep.and_then(|n| self.roster.iter().position(|u| u.name == n)).unwrap_or(self.selected);
                self.selected = self.selected.min(self.roster.len().saturating_sub(1));
                if let Some(who) = self.autocall.clone() {
                    if self.roster.iter().any(|u| u.name == who && u.state == UserState::Idle) && !self.in_call() {
                        self.autocall = None;
                        out.push(Action::Engine(Command::Call { to: who.as_str().into() }));
                    }
                }
            }
            Event::Group { joined, ringing } => {
                let mut line = format!("in the call: {}", joined.join(", "));
                if !ringing.is_empty() {
                    line += &format!("; ringing {}", ringing.join(", "));
                }
                self.group_call = true;
                self.say(Author::System, line);
            }
            Event::Left { name, reason } => {
                self.say(Author::System, format!("{name} left the call ({})", describe_reason(&reason)));
            }
            Event::Incoming { from, .. } => {
                self.call = Some(CallView { peer: from.clone(), state: CallState::Ringing, path: None, incoming: true, reason: None, since: Instant::now() });
                self.say(Author::System, format!("{from} is calling"));
                out.push(Action::Bell);
            }
            Event::Call { peer, state, path, reason } => self.on_call(peer, state, path, reason),
            Event::Chat { from, text } => self.say(Author::Peer(from), text),
            Event::Stats { stats, path, .. } => {
                if let Some(c) = &mut self.call {
                    c.path = path.or(c.path);
                }
                self.stats = Some(stats);
            }
            Event::VideoStarted { .. } => {}
            Event::Snapshot { path, width, height } => self.notify(format!("snapshot {width}x{height} saved to {path}"), Tone::Info),
            Event::Mute { audio, video } => {
                self.audio_muted = audio;
                self.video_muted = video;
            }
            e @ Event::Devices { .. } => self.on_devices(e),
            Event::Hub { state, url } => {
                self.hub = Some(state);
                match state {
                    HubState::Disconnected => self.notify(format!("lost the hub at {url}; retrying"), Tone::Error),
                    HubState::Connected => self.notify("hub connection restored", Tone::Info),
                }
            }
            Event::Error { message, fatal, .. } => {
                if fatal {
                    self.say(Author::System, format!("error: {message}"));
                }
                self.notify(message, Tone::Error);
            }
        }
        out
    }

    fn on_call(&mut self, peer: String, state: CallState, path: Option<Path>, reason: Option<String>) {
        // The same call goes on only if the last one with this peer has not ended.
        let incoming = self.call.as_ref().filter(|c| c.peer == peer && c.state != CallState::Ended).is_some_and(|c| c.incoming);
        let live = |s: CallState| matches!(s, CallState::Connected | CallState::Reconnecting);
        // The call clock runs on through a reconnection or a path change.
        let was_live = self.call.as_ref().is_some_and(|c| c.peer == peer && live(c.state));
        let since = match &self.call {
            Some(c) if c.peer == peer && (c.state == state || (live(c.state) && live(state))) => c.since,
            _ => Instant::now(),
        };
        match state {
            CallState::Ringing if !incoming => self.say(Author::System, format!("calling {peer}…")),
            CallState::Ringing => {}
            CallState::Connected => {
                let via = match path {
                    Some(Path::Relay) => "relay",
                    Some(Path::RelayTcp) => "relay over TCP",
                    Some(Path::Hub) => "through the hub",
                    _ => "p2p",
                };
                if was_live {
                    self.say(Author::System, format!("media with {peer} now goes via {via}"));
                } else {
                    self.say(Author::System, format!("connected with {peer} ({via})"));
                }
            }
            CallState::Reconnecting => self.say(Author::System, format!("lost the media path to {peer}; reconnecting…")),
            CallState::Ended => {
                self.say(Author::System, format!("call with {peer} ended: {}", reason.as_deref().map_or("ended".into(), describe_reason)));
                self.stats = None;
                self.group_call = false;
            }
            CallState::Connecting => {}
        }
        self.call = Some(CallView { peer, state, path, incoming, reason, since });
    }

    /// A terminal event (key, mouse); resize needs nothing here.
    pub fn on_terminal(&mut self, ev: crossterm::event::Event) -> Vec<Action> {
        match ev {
            crossterm::event::Event::Key(k) if k.kind != KeyEventKind::Release => self.on_key(k),
            crossterm::event::Event::Mouse(m) => {
                self.on_mouse(m);
                Vec::new()
            }
            crossterm::event::Event::Paste(text) if self.focus == Focus::Chat => {
                if !self.input.insert_str(&text, MAX_CHAT_BYTES) {
                    self.notify(format!("the paste was cut: a chat line is at most {} KiB", MAX_CHAT_BYTES / 1024), Tone::Error);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let r = self.hits.roster;
                if r.contains(Position::new(m.column, m.row)) {
                    let row = self.hits.roster_first + usize::from(m.row - r.y);
                    if row < self.roster.len() {
                        self.selected = row;
                    }
                }
            }
            MouseEventKind::ScrollUp => self.scroll_chat(3),
            MouseEventKind::ScrollDown => self.scroll_chat(-3),
            _ => {}
        }
    }

    /// Scrolls the chat by rows (the pane clamps it to what there is).
    fn scroll_chat(&mut self, by: isize) {
        self.scroll = self.scroll.saturating_add_signed(by).min(self.hits.chat_rows);
    }

    /// A key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
            return vec![Action::Quit];
        }
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            return if key.code == KeyCode::Char('q') { vec![Action::Quit] } else { Vec::new() };
        }
        if self.ringing_here().is_some() {
            match key.code {
                KeyCode::Char('a' | 'y') | KeyCode::Enter => return vec![Action::Engine(Command::Accept)],
                KeyCode::Char('d' | 'n') | KeyCode::Esc => return vec![Action::Engine(Command::Decline)],
                _ => {}
            }
        }
        match key.code {
            KeyCode::PageUp | KeyCode::PageDown => {
                self.scroll_chat(if key.code == KeyCode::PageUp { 10 } else { -10 });
                return Vec::new();
            }
            KeyCode::F(1) => {
                self.help = true;
                return Vec::new();
            }
            _ => {}
        }
        if self.focus == Focus::Chat {
            if !key.modifiers.contains(KeyModifiers::ALT) {
                return self.on_chat_key(key);
            }
            // Esc then a key, typed fast, reaches us as Alt+key: leave the chat line and do the key.
            self.focus = Focus::Keys;
            return self.on_key(KeyEvent::new(key.code, key.modifiers - KeyModifiers::ALT));
        }
        let engine = |c| vec![Action::Engine(c)];
        match key.code {
            KeyCode::Char('q') => vec![Action::Quit],
            KeyCode::Char('?') => {
                self.help = true;
                Vec::new()
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Vec::new()
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.roster.len().saturating_sub(1));
                Vec::new()
            }
            KeyCode::Enter | KeyCode::Char('c') => match self.selected_user() {
                _ if self.in_call() => {
                    self.notify("already in a call: h hangs up", Tone::Error);
                    Vec::new()
                }
                _ if !self.marked.is_empty() => {
                    self.notice = None;
                    engine(Command::Call { to: Callees::Group(std::mem::take(&mut self.marked)) })
                }
                Some(u) => engine(Command::Call { to: u.name.as_str().into() }),
                None => {
                    self.notify("nobody else is online", Tone::Error);
                    Vec::new()
                }
            },
            KeyCode::Char('h') | KeyCode::Char('x') => {
                if self.in_call() {
                    engine(Command::Hangup)
                } else {
                    self.notify("no call to hang up", Tone::Error);
                    Vec::new()
                }
            }
            KeyCode::Char('e') => {
                if self.in_call() {
                    self.notify("already in a call: h hangs up", Tone::Error);
                    return Vec::new();
                }
                engine(Command::Call { to: ECHO_USER.into() })
            }
            KeyCode::Char(' ') => {
                match self.selected_user().map(|u| u.name.clone()) {
                    Some(name) if name == ECHO_USER => self.notify("echo takes calls on its own: press e", Tone::Error),
                    Some(name) => {
                        if let Some(i) = self.marked.iter().position(|m| *m == name) {
                            self.marked.remove(i);
                        } else {
                            self.marked.push(name);
                        }
                        if !self.marked.is_empty() {
                            let text = format!("group call with {}: Enter calls, Space unmarks", self.marked.join(", "));
                            self.notify(text, Tone::Info);
                        }
                    }
                    None => self.notify("nobody else is online", Tone::Error),
                }
                Vec::new()
            }
            KeyCode::Char('+') => match self.selected_user().map(|u| u.name.clone()) {
                Some(name) if self.in_call() && self.group_call => engine(Command::Invite { to: name }),
                _ if self.in_call() => {
                    self.notify("invitations go to group calls: mark people with Space, then Enter", Tone::Error);
                    Vec::new()
                }
                _ => {
                    self.notify("invite needs a group call", Tone::Error);
                    Vec::new()
                }
            },
            KeyCode::Char('m') => engine(Command::Mute { audio: Some(!self.audio_muted), video: None }),
            KeyCode::Char('v') => engine(Command::Mute { audio: None, video: Some(!self.video_muted) }),
            KeyCode::Char('d') => self.next_device(true),
            KeyCode::Char('o') => self.next_device(false),
            KeyCode::Char('p') => {
                self.self_view = !self.self_view;
                Vec::new()
            }
            KeyCode::Char('s') => match &self.call {
                Some(c) if c.state == CallState::Connected => {
                    let when = chrono::Local::now().format("%Y%m%d-%H%M%S");
                    engine(Command::Snapshot { path: format!("termcall-{}-{when}.png", c.peer.replace(", ", "+")), of: None })
                }
                _ => {
                    self.notify("no video to snapshot: not in a call", Tone::Error);
                    Vec::new()
                }
            },
            KeyCode::Char('i') | KeyCode::Char('/') | KeyCode::Tab => {
                self.focus = Focus::Chat;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_chat_key(&mut self, key: KeyEvent) -> Vec<Action> {
        if matches!(key.code, KeyCode::Esc | KeyCode::Tab) {
            self.focus = Focus::Keys;
            return Vec::new();
        }
        if key.code == KeyCode::Enter {
            // A line that cannot go now stays in the editor, to be sent later or shortened.
            let accepted = self.call.as_ref().is_some_and(|c| matches!(c.state, CallState::Connecting | CallState::Connected));
            if !accepted {
                self.notify("no call to chat in yet: chat opens once a call is accepted", Tone::Error);
                return Vec::new();
            }
            if self.input.text().len() > MAX_CHAT_BYTES {
                self.notify(format!("a chat line is at most {} KiB", MAX_CHAT_BYTES / 1024), Tone::Error);
                return Vec::new();
            }
        }
        match self.input.handle(key) {
            Edit::Submit(text) => {
                self.scroll = 0;
                self.say(Author::Me, text.clone());
                vec![Action::Engine(Command::Chat { text })]
            }
            Edit::Handled | Edit::Ignored => Vec::new(),
        }
    }
}

/// An end reason in words.
pub fn describe_reason(reason: &str) -> String {
    match reason {
        "hangup" => "you hung up",
        "peer_hangup" => "they hung up",
        "declined" => "declined",
        "busy" => "busy in another call",
        "unknown_user" => "no such user online",
        "self_call" => "you cannot call yourself",
        "peer_gone" => "the other side vanished",
        "timeout" => "no answer",
        "media_failed" => "media could not connect",
        "hub_lost" => "lost the hub",
        "hub_shutdown" => "the hub shut down",
        other => other,
    }
    .to_owned()
}

mod devices;
#[cfg(test)]
mod tests;
