//! TURN messages on a byte stream (TCP or TLS, RFC 8656 §12 and RFC 6062): STUN messages
//! carry their own length; ChannelData carries its payload's length and is padded to a
//! multiple of 4 bytes on a stream. Anything else cannot start a TURN message, and the
//! connection is closed: a stream cannot resynchronise.

/// The longest TURN message taken on a stream: a UDP datagram of 1,500 bytes in a Send
/// indication or ChannelData, with room to spare. Longer ones close the connection.
pub const MAX_MESSAGE: usize = 4096;
const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Why a stream's bytes cannot be TURN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFrame {
    /// Neither STUN nor ChannelData.
    NotTurn,
    /// Longer than [`MAX_MESSAGE`].
    TooLong(usize),
}

/// Where the first message of `buf` ends: `(message, taken)`, the message's own length and the
/// bytes it takes on the stream (padding included); `None` until enough bytes have come.
pub fn next_frame(buf: &[u8]) -> Result<Option<(usize, usize)>, BadFrame> {
    // Each verdict waits for the bytes it rests on, so that it is the same however the
    // stream is cut into reads.
    let Some((message, taken)) = header(buf)? else { return Ok(None) };
    Ok((buf.len() >= taken).then_some((message, taken)))
}

/// The lengths the header at the start of `buf` announces: the message's own, and with padding.
fn header(buf: &[u8]) -> Result<Option<(usize, usize)>, BadFrame> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let stun = first & 0xC0 == 0;
    if !stun && !(0x40..=0x7F).contains(&first) {
        return Err(BadFrame::NotTurn);
    }
    let need = if stun { 8 } else { 4 };
    if buf.len() < need {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let (message, taken) = if stun {
        if buf[4..8] != STUN_MAGIC || len % 4 != 0 {
            return Err(BadFrame::NotTurn);
        }
        (20 + len, 20 + len)
    } else {
        (4 + len, (4 + len).next_multiple_of(4))
    };
    if taken > MAX_MESSAGE {
        return Err(BadFrame::TooLong(taken));
    }
    Ok(Some((message, taken)))
}

/// Takes the first whole message off the front of `buf` (what a stream has delivered so
/// far): the message, padding cut off; `None` until it has all come.
pub fn cut(buf: &mut bytes::BytesMut) -> Result<Option<bytes::BytesMut>, BadFrame> {
    let Some((own, taken)) = next_frame(buf)? else { return Ok(None) };
    let mut message = buf.split_to(taken);
    message.truncate(own);
    Ok(Some(message))
}

/// Whether `message` (one WebSocket message) is exactly one TURN message, padding allowed.
pub fn is_whole_message(message: &[u8]) -> bool {
    matches!(header(message), Ok(Some((own, taken))) if message.len() == own || message.len() == taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&STUN_MAGIC);
        m.extend_from_slice(&[9; 12]);
        m.extend(std::iter::repeat_n(0u8, body));
        m
    }

    fn channel_data(payload: usize) -> Vec<u8> {
        let mut m = vec![0x40, 0x01];
        m.extend_from_slice(&(payload as u16).to_be_bytes());
        m.extend(std::iter::repeat_n(1u8, payload));
        m
    }

    #[test]
    fn stun_and_padded_channel_data_are_cut_where_they_end() {
        let mut s = stun(8);
        s.extend_from_slice(&[0x40]);
        assert_eq!(next_frame(&s), Ok(Some((28, 28))));
        assert_eq!(next_frame(&s[..27]), Ok(None));
        let c = channel_data(5);
        assert_eq!(next_frame(&c), Ok(None), "waits for the padding");
        let mut padded = c.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(next_frame(&padded), Ok(Some((9, 12))));
        assert!(is_whole_message(&c) && is_whole_message(&padded));
        assert!(!is_whole_message(&s), "a message and a byte more");
        assert_eq!(next_frame(&[]), Ok(None));
        assert_eq!(next_frame(&[0x00, 0x01]), Ok(None));
        assert_eq!(next_frame(&[0x00, 0x01, 0xFF, 0xFC]), Ok(None), "no verdict on the length before the magic cookie");
    }

    #[test]
    fn what_cannot_be_turn_is_refused() {
        // "G" could start ChannelData, whose length ("T ") is then too long: closed either way.
        assert_eq!(next_frame(b"GET / HTTP/1.1\r\n"), Err(BadFrame::TooLong(21540)));
        assert_eq!(next_frame(b"\x80 junk"), Err(BadFrame::NotTurn));
        assert_eq!(next_frame(&[0x16, 3, 1, 0, 200, 1, 0, 0, 196]), Err(BadFrame::NotTurn), "a TLS ClientHello");
        let mut bad_magic = stun(0);
        bad_magic[4] = 0;
        assert_eq!(next_frame(&bad_magic), Err(BadFrame::NotTurn));
        let mut odd = stun(4);
        odd[3] = 5;
        assert_eq!(next_frame(&odd), Err(BadFrame::NotTurn));
        assert_eq!(next_frame(&[0x40, 1, 0xFF, 0xFF]), Err(BadFrame::TooLong(65540)));
        assert_eq!(next_frame(&[0x00, 1, 0x20, 0x00, 0x21, 0x12, 0xA4, 0x42]), Err(BadFrame::TooLong(8212)));
    }

    #[test]
    fn any_bytes_are_judged_without_a_panic() {
        let mut seed = 0x9E37_79B9u32;
        for n in 0..20_000 {
            let len = n % 64;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            if let Ok(Some((own, taken))) = next_frame(&bytes) {
                assert!(own <= taken && taken <= bytes.len() && taken <= MAX_MESSAGE);
            }
        }
    }
}
