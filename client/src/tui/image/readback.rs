//! What a terminal would show, rebuilt from the escapes sent to it: the pixels of a kitty,
//! sixel or iTerm2 image. For the tests and the fidelity benchmark, which compare it with the
//! picture; nothing in a call uses it. Bad input gives `None`, never a panic.

use std::io::Read;

use base64::Engine;

/// `(width, height, RGB)`.
pub type Pixels = (u32, u32, Vec<u8>);

/// Undoes tmux's passthrough wrapping (`ESC P tmux; … ESC \`, with each inner ESC doubled).
fn unwrap(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix(b"\x1bPtmux;") {
            let mut i = 0;
            while i < body.len() {
                if body[i] == 0x1b && body.get(i + 1) == Some(&0x1b) {
                    out.push(0x1b);
                    i += 2;
                } else if body[i] == 0x1b && body.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    break;
                } else {
                    out.push(body[i]);
                    i += 1;
                }
            }
            rest = &body[i.min(body.len())..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

pub fn unbase64(text: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The last complete image in kitty graphics escapes (`a=T`, `f=24`, direct, zlib or not).
pub fn kitty(bytes: &[u8]) -> Option<Pixels> {
    let bytes = unwrap(bytes);
    let (mut w, mut h, mut zlib, mut text, mut last) = (0u32, 0u32, false, Vec::new(), None);
    let mut rest = &bytes[..];
    while let Some(start) = find(rest, b"\x1b_G") {
        let body = &rest[start + 3..];
        let end = find(body, b"\x1b\\")?;
        let (keys, payload) = match body[..end].iter().position(|&b| b == b';') {
            Some(s) => (&body[..s], &body[s + 1..end]),
            None => (&body[..end], &body[..0]),
        };
        let mut more = false;
        for kv in keys.split(|&b| b == b',') {
            let (k, v) = kv.split_at(kv.iter().position(|&b| b == b'=')?);
            let v = std::str::from_utf8(&v[1..]).ok()?;
            match k {
                b"a" if v == "T" => {
                    text.clear();
                    zlib = false;
                }
                b"s" => w = v.parse().ok()?,
                b"v" => h = v.parse().ok()?,
                b"o" => zlib = v == "z",
                b"m" => more = v == "1",
                _ => {}
            }
        }
        text.extend_from_slice(payload);
        if !more && !text.is_empty() {
            let raw = unbase64(&text)?;
            let rgb = if zlib {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(&raw[..]).read_to_end(&mut out).ok()?;
                out
            } else {
                raw
            };
            if rgb.len() != (w as usize) * (h as usize) * 3 {
                return None;
            }
            last = Some((w, h, rgb));
            text.clear();
        }
        rest = &body[end + 2..];
    }
    last
}

/// The first sixel image (`ESC P … q … ESC \`), its size from the raster attributes or
/// what it draws; pixels it leaves unset are black.
pub fn sixel(bytes: &[u8]) -> Option<Pixels> {
    let bytes = unwrap(bytes);
    let start = find(&bytes, b"\x1bP")?;
    let body = &bytes[start + 2..];
    let q = body.iter().position(|&b| b == b'q')?;
    let end = find(body, b"\x1b\\")?;
    let data = &body[q + 1..end];
    let mut palette = vec![[0u8; 3]; 256];
    let (mut w, mut h) = (0usize, 0usize);
    let mut px: Vec<(usize, usize, u8)> = Vec::new();
    let (mut x, mut band, mut colour) = (0usize, 0usize, 0u8);
    let mut i = 0;
    let number = |i: &mut usize| -> Option<usize> {
        let s = *i;
        while *i < data.len() && data[*i].is_ascii_digit() {
            *i += 1;
        }
        std::str::from_utf8(&data[s..*i]).ok()?.parse().ok()
    };
    let numbers = |i: &mut usize| -> Vec<usize> {
        let mut v = Vec::new();
        loop {
            match number(i) {
                Some(n) => v.push(n),
                None => v.push(0),
            }
            if *i < data.len() && data[*i] == b';' {
                *i += 1;
            } else {
                return v;
            }
        }
    };
    while i < data.len() {
        let c = data[i];
        i += 1;
        match c {
            b'"' => {
                let v = numbers(&mut i);
                if v.len() >= 4 {
                    (w, h) = (v[2], v[3]);
                }
            }
            b'#' => {
                let v = numbers(&mut i);
                let reg = *v.first()?;
                if reg > 255 {
                    return None;
                }
                if v.len() >= 5 && v[1] == 2 {
                    palette[reg] = [v[2], v[3], v[4]].map(|p| ((p.min(100) * 255 + 50) / 100) as u8);
                }
                colour = reg as u8;
            }
            b'!' => {
                let n = number(&mut i)?;
                let ch = *data.get(i)?;
                i += 1;
                if !(63..=126).contains(&ch) || n > 1 << 16 {
                    return None;
                }
                for k in 0..n {
                    set(&mut px, x + k, band, ch - 63, colour);
                }
                x += n;
            }
            b'$' => x = 0,
            b'-' => {
                x = 0;
                band += 1;
            }
            63..=126 => {
                set(&mut px, x, band, c - 63, colour);
                x += 1;
            }
            _ => {}
        }
    }
    if w == 0 || h == 0 {
        w = px.iter().map(|p| p.0 + 1).max()?;
        h = px.iter().map(|p| p.1 + 1).max()?;
    }
    if w * h > 1 << 26 {
        return None;
    }
    let mut rgb = vec![0u8; w * h * 3];
    for (x, y, c) in px {
        if x < w && y < h {
            rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&palette[usize::from(c)]);
        }
    }
    Some((w as u32, h as u32, rgb))
}

fn set(px: &mut Vec<(usize, usize, u8)>, x: usize, band: usize, bits: u8, colour: u8) {
    for dy in 0..6 {
        if bits >> dy & 1 == 1 {
            px.push((x, band * 6 + dy, colour));
        }
    }
}

/// The image in an iTerm2 `OSC 1337 ; File=… : base64 BEL`.
pub fn iterm(bytes: &[u8]) -> Option<Pixels> {
    let bytes = unwrap(bytes);
    let start = find(&bytes, b"\x1b]1337;File=")?;
    let body = &bytes[start..];
    let colon = body.iter().position(|&b| b == b':')?;
    let end = body.iter().position(|&b| b == 0x07)?;
    let png = unbase64(body.get(colon + 1..end)?)?;
    let img = image::load_from_memory(&png).ok()?.to_rgb8();
    Some((img.width(), img.height(), img.into_raw()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_not_a_panic() {
        for junk in [&b""[..], b"\x1b_G", b"\x1b_Ga=T,s=2,v=2;!!!\x1b\\", b"\x1bPq#999;2;1;1;1\x1b\\", b"\x1bPq!99999999999?\x1b\\", b"\x1b]1337;File=:AAAA\x07"] {
            let _ = (kitty(junk), sixel(junk), iterm(junk));
        }
        assert!(kitty(b"\x1b_Ga=T,f=24,s=1,v=1,m=0;AAAA\x1b\\").is_some());
    }
}
