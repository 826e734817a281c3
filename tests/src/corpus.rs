//! Realistic-looking mail for benchmarks and the demo: text bodies of a few KB made of words,
//! and now and then a base64 attachment, which compresses like the real thing (not at all
//! below its 6 bits per character).

use crate::rng::Rng;

const WORDS: &[&str] = &[
    "the", "meeting", "project", "schedule", "please", "review", "attached", "report", "budget",
    "thanks", "regards", "tomorrow", "office", "server", "update", "customer", "invoice", "draft",
    "question", "deadline", "team", "plan", "release", "notes", "call", "agenda", "minutes",
];

/// A text message of about `body_bytes`, optionally with a binary attachment of `attachment`
/// bytes (base64 encoded, so about 4/3 of that on the wire).
pub fn message(rng: &mut Rng, serial: u64, body_bytes: usize, attachment: usize) -> Vec<u8> {
    let boundary = format!("=_nm{serial:x}");
    let mut out = format!(
        "From: Colleague {0} <c{0}@example.org>\r\nTo: user@example.org\r\nSubject: {1} {2} #{0}\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0900\r\nMessage-ID: <{0}.{3:x}@example.org>\r\nMIME-Version: 1.0\r\n",
        serial,
        WORDS[rng.below(WORDS.len() as u64) as usize],
        WORDS[rng.below(WORDS.len() as u64) as usize],
        rng.next_u64()
    );
    if attachment > 0 {
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        ));
    } else {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    }
    let mut line = 0;
    while out.len() < body_bytes {
        out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        line += 1;
        out.push_str(if line % 12 == 0 { "\r\n" } else { " " });
    }
    if attachment > 0 {
        out.push_str(&format!(
            "\r\n--{boundary}\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        let raw: Vec<u8> = (0..attachment).map(|_| rng.next_u64() as u8).collect();
        for chunk in base64(&raw).as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            out.push_str("\r\n");
        }
        out.push_str(&format!("--{boundary}--\r\n"));
    }
    out.into_bytes()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}
