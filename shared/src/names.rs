//! What a user name may be: short, printable in a terminal, safe in logs.

/// The longest user name, in characters.
pub const MAX_NAME_LEN: usize = 32;

/// The built-in user that echoes your own media and chat back through the hub.
pub const ECHO_USER: &str = "echo";

/// The name the hub signs its own negotiation with, in calls whose media it carries.
pub const HUB_PEER: &str = "hub";

/// Names no one may register: the hub's own parties.
pub const RESERVED_NAMES: [&str; 2] = [ECHO_USER, HUB_PEER];

/// Checks a user name: 1 to 32 characters of ASCII letters, digits, `-`, `_` and `.`,
/// starting with a letter or digit. Returns why not, in words a user can act on.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("a name is at most {MAX_NAME_LEN} characters"));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or(' ');
    if !first.is_ascii_alphanumeric() {
        return Err("a name starts with a letter or a digit".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("a name holds only letters, digits, '-', '_' and '.'".into());
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!("{name:?} is the hub's own; choose another name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in ["alice", "Bob_2", "x", "a.b-c", &"z".repeat(32)] {
            assert!(validate_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for n in ["", "-x", "a b", "é", "a/b", &"z".repeat(33), "\u{1b}[31m", "echo", "Hub"] {
            assert!(validate_name(n).is_err(), "{n:?}");
        }
    }
}
