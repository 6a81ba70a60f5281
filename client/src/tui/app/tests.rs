//! How keys and engine events change the app, without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use termcall_shared::{UserInfo, UserState};

use super::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}
fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}
fn user(name: &str, state: UserState) -> UserInfo {
    UserInfo::new(name, state)
}
fn with_roster() -> App {
    let mut app = App::new("alice", "ws://127.0.0.1:7878/ws");
    app.on_engine(Event::Ready { name: "alice".into() });
    app.on_engine(Event::Roster { users: vec![user("bob", UserState::Idle), user("carol", UserState::InCall), user("dave", UserState::Idle)] });
    app
}
fn connect(app: &mut App, peer: &str) {
    app.on_engine(Event::Call { peer: peer.into(), state: CallState::Ringing, path: None, reason: None });
    app.on_engine(Event::Call { peer: peer.into(), state: CallState::Connected, path: Some(Path::P2p), reason: None });
}

#[test]
fn arrows_select_and_enter_calls_the_selected_user() {
    let mut app = with_roster();
    assert_eq!(app.on_key(code(KeyCode::Down)), vec![]);
    app.on_key(key('j'));
    app.on_key(key('j')); // stays on the last
    assert_eq!(app.selected_user().unwrap().name, "dave");
    app.on_key(key('k'));
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Action::Engine(Command::Call { to: "carol".into() })]);
}

#[test]
fn the_selection_follows_its_user_when_the_roster_changes() {
    let mut app = with_roster();
    app.on_key(key('j'));
    app.on_engine(Event::Roster { users: vec![user("aaron", UserState::Idle), user("bob", UserState::Idle), user("carol", UserState::Idle)] });
    assert_eq!(app.selected_user().unwrap().name, "carol");
    app.on_engine(Event::Roster { users: vec![user("aaron", UserState::Idle)] });
    assert_eq!(app.selected, 0, "the selection stays inside the roster");
    app.on_engine(Event::Roster { users: vec![] });
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![], "nobody to call");
    assert!(app.current_notice().is_some());
}

#[test]
fn an_incoming_call_rings_and_takes_a_and_d() {
    let mut app = with_roster();
    assert_eq!(app.on_engine(Event::Incoming { from: "bob".into(), group: None }), vec![Action::Bell]);
    assert_eq!(app.ringing_here(), Some("bob"));
    assert_eq!(app.on_key(key('a')), vec![Action::Engine(Command::Accept)]);
    assert_eq!(app.on_key(key('d')), vec![Action::Engine(Command::Decline)]);
    // Even while typing a chat line, the prompt wins.
    app.focus = Focus::Chat;
    assert_eq!(app.on_key(code(KeyCode::Esc)), vec![Action::Engine(Command::Decline)]);
}

#[test]
fn in_a_call_keys_hang_up_mute_and_snapshot() {
    let mut app = with_roster();
    connect(&mut app, "bob");
    assert!(app.in_call());
    assert_eq!(app.on_key(key('h')), vec![Action::Engine(Command::Hangup)]);
    assert_eq!(app.on_key(key('m')), vec![Action::Engine(Command::Mute { audio: Some(true), video: None })]);
    app.on_engine(Event::Mute { audio: true, video: false });
    assert_eq!(app.on_key(key('m')), vec![Action::Engine(Command::Mute { audio: Some(false), video: None })]);
    assert_eq!(app.on_key(key('v')), vec![Action::Engine(Command::Mute { audio: None, video: Some(true) })]);
    let [Action::Engine(Command::Snapshot { path, .. })] = &app.on_key(key('s'))[..] else { panic!("no snapshot") };
    assert!(path.starts_with("termcall-bob-") && path.ends_with(".png"), "{path}");
    assert_eq!(app.on_key(key('c')), vec![], "no second call while in one");
    app.on_key(key('p'));
    assert!(!app.self_view);
}

#[test]
fn chat_is_typed_sent_and_logged_and_kept_when_there_is_no_call() {
    let mut app = with_roster();
    app.on_key(key('i'));
    for c in "hi".chars() {
        app.on_key(key(c));
    }
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![], "no call: nothing sent");
    assert_eq!(app.input.text(), "hi", "and nothing lost");
    connect(&mut app, "bob");
    assert_eq!(app.on_key(key('q')), vec![], "q types a q while chatting");
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Action::Engine(Command::Chat { text: "hiq".into() })]);
    app.on_engine(Event::Chat { from: "bob".into(), text: "hello".into() });
    let last: Vec<_> = app.chat.iter().rev().take(2).map(|l| (l.author.clone(), l.text.clone())).collect();
    assert_eq!(last, vec![(Author::Peer("bob".into()), "hello".into()), (Author::Me, "hiq".into())]);
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.on_key(key('q')), vec![Action::Quit]);
}

#[test]
fn help_opens_and_any_key_closes_it_and_ctrl_c_always_quits() {
    let mut app = with_roster();
    app.on_key(key('?'));
    assert!(app.help);
    assert_eq!(app.on_key(key('h')), vec![], "a key closes help and does nothing else");
    assert!(!app.help);
    app.focus = Focus::Chat;
    assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), vec![Action::Quit]);
}

#[test]
fn a_click_selects_a_user() {
    let mut app = with_roster();
    app.hits.roster = Rect::new(1, 1, 22, 10);
    let click = |row| MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column: 5, row, modifiers: KeyModifiers::NONE };
    app.on_terminal(crossterm::event::Event::Mouse(click(3)));
    assert_eq!(app.selected_user().unwrap().name, "dave");
    app.on_terminal(crossterm::event::Event::Mouse(click(9))); // below the last user: no change
    assert_eq!(app.selected_user().unwrap().name, "dave");
}

#[test]
fn the_demo_calls_its_peer_once_it_is_online_and_idle() {
    let mut app = App::new("you", "ws://x/ws");
    app.autocall = Some("bob".into());
    assert_eq!(app.on_engine(Event::Roster { users: vec![user("bob", UserState::InCall)] }), vec![]);
    assert_eq!(app.on_engine(Event::Roster { users: vec![user("bob", UserState::Idle)] }), vec![Action::Engine(Command::Call { to: "bob".into() })]);
    assert_eq!(app.on_engine(Event::Roster { users: vec![user("bob", UserState::Idle)] }), vec![], "only once");
}

#[test]
fn an_ended_call_says_why_and_clears_the_stats() {
    let mut app = with_roster();
    connect(&mut app, "bob");
    app.on_engine(Event::Stats { peer: "bob".into(), path: Some(Path::P2p), stats: CallStats::default() });
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ended, path: None, reason: Some("peer_hangup".into()) });
    assert!(!app.in_call());
    assert!(app.stats.is_none());
    assert!(app.chat.back().unwrap().text.contains("they hung up"));
}

#[test]
fn escape_and_a_key_typed_fast_leave_the_chat_line_and_do_the_key() {
    let mut app = with_roster();
    app.on_key(key('i'));
    assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT)), vec![Action::Quit]);
    assert_eq!(app.focus, Focus::Keys);
    assert_eq!(app.input.text(), "");
}

#[test]
fn calling_back_someone_who_called_earlier_is_an_outgoing_call() {
    let mut app = with_roster();
    app.on_engine(Event::Incoming { from: "bob".into(), group: None });
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ringing, path: None, reason: None });
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ended, path: None, reason: Some("declined".into()) });
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ringing, path: None, reason: None });
    assert_eq!(app.ringing_here(), None, "our own call to bob is not an incoming prompt");
    assert_eq!(app.chat.iter().filter(|l| l.text == "calling bob…").count(), 1, "an incoming call is not logged as calling");
}

#[test]
fn a_click_on_a_scrolled_roster_picks_the_user_on_that_row() {
    let mut app = with_roster();
    app.hits.roster = Rect::new(1, 1, 22, 2);
    app.hits.roster_first = 1;
    let click = MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column: 5, row: 1, modifiers: KeyModifiers::NONE };
    app.on_terminal(crossterm::event::Event::Mouse(click));
    assert_eq!(app.selected_user().unwrap().name, "carol");
}

#[test]
fn chat_waits_for_an_accepted_call_and_a_line_too_long_stays() {
    let mut app = with_roster();
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ringing, path: None, reason: None });
    app.on_key(key('i'));
    app.on_key(key('x'));
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![], "still ringing");
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Connecting, path: None, reason: None });
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Action::Engine(Command::Chat { text: "x".into() })], "queued by the engine while connecting");
    app.on_terminal(crossterm::event::Event::Paste("y".repeat(20_000)));
    assert!(app.input.text().len() <= termcall_shared::limits::MAX_CHAT_BYTES);
}
