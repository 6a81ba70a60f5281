//! One way to write an interceptor. webrtc-rs's chain wants, of each, queues for what it hands
//! on in both directions and the four stream-binding calls; a [`Stage`] says only what it does
//! with a packet, and [`Staged`] is the interceptor around it.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Interceptor, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// What an interceptor hands on: towards the application (`inward`) and towards the wire
/// (`outward`), each in order.
#[derive(Default)]
pub struct Belt {
    inward: VecDeque<TaggedPacket>,
    outward: VecDeque<TaggedPacket>,
}

impl Belt {
    /// Hands a packet on towards the application.
    pub fn inward(&mut self, msg: TaggedPacket) {
        self.inward.push_back(msg);
    }

    /// Hands a packet on towards the wire (one passing through, or one of our own).
    pub fn outward(&mut self, msg: TaggedPacket) {
        self.outward.push_back(msg);
    }
}

/// What an interceptor does. Each call gets the belt to hand packets on with; by default a packet
/// passes unchanged.
pub trait Stage: Send + Sync + 'static {
    /// A packet on its way from the wire.
    fn read(&mut self, msg: TaggedPacket, belt: &mut Belt) {
        belt.inward(msg);
    }

    /// A packet on its way to the wire.
    fn write(&mut self, msg: TaggedPacket, belt: &mut Belt) {
        belt.outward(msg);
    }

    /// Time has come (see [`Stage::next_timeout`]).
    fn timeout(&mut self, _now: Instant, _belt: &mut Belt) {}

    /// When this stage next wants [`Stage::timeout`], if ever.
    fn next_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn bind_local(&mut self, _info: &StreamInfo) {}
    fn unbind_local(&mut self, _info: &StreamInfo) {}
    fn bind_remote(&mut self, _info: &StreamInfo) {}
    fn unbind_remote(&mut self, _info: &StreamInfo) {}
}

/// The interceptor around a [`Stage`].
#[derive(Default)]
pub struct Staged<S> {
    pub stage: S,
    belt: Belt,
}

impl<S: Stage> Staged<S> {
    pub fn new(stage: S) -> Staged<S> {
        Staged { stage, belt: Belt::default() }
    }
}

impl<S: Stage> Protocol<TaggedPacket, TaggedPacket, ()> for Staged<S> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.stage.read(msg, &mut self.belt);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.belt.inward.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.stage.write(msg, &mut self.belt);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.belt.outward.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.stage.timeout(now, &mut self.belt);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stage.next_timeout()
    }
}

impl<S: Stage> Interceptor for Staged<S> {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.stage.bind_local(info);
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.stage.unbind_local(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.stage.bind_remote(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.stage.unbind_remote(info);
    }
}
