//! What must always hold of the hub's state, checked by the unit tests and the fuzzers after
//! every input.

use super::Hub;

impl Hub {
    /// Checks that the roster and the calls agree with each other; the reason if they do not.
    /// For the unit tests and the fuzzer, after every input.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.members.len() != self.by_name.len() {
            return Err(format!("{} members but {} names", self.members.len(), self.by_name.len()));
        }
        for (name, conn) in &self.by_name {
            match self.members.get(conn) {
                Some(m) if m.name == *name => {}
                _ => return Err(format!("{name} maps to connection {conn}, which is not registered under it")),
            }
        }
        for (conn, m) in &self.members {
            if let Some(id) = m.call {
                match self.calls.get(&id) {
                    Some(c) if c.caller == *conn || c.callee == *conn => {}
                    None if self.rooms.get(&id).is_some_and(|r| r.has(*conn)) => {}
                    _ if m.away.is_some() => {}
                    _ => return Err(format!("{} is in call {id}, which does not have them", m.name)),
                }
                if m.resume.is_some() {
                    return Err(format!("{} is in a call and waiting to resume one", m.name));
                }
            }
        }
        self.check_rooms()?;
        self.check_cluster()?;
        for (id, c) in &self.calls {
            if c.caller == c.callee {
                return Err(format!("call {id} is with oneself"));
            }
            for party in [c.caller, c.callee] {
                if self.members.get(&party).and_then(|m| m.call) != Some(*id) {
                    return Err(format!("call {id}'s party {party} is not in it"));
                }
            }
        }
        Ok(())
    }
}
