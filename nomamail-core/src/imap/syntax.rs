//! A read position in one command's bytes, for the syntax imap-codec does not read (`extended`,
//! `searchres`): atoms, strings as written, parenthesised groups.

/// A read position in a command's bytes. Every method returns `None` (or false) without
/// moving when what it reads is not there.
pub struct Cursor<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Cursor<'a> {
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub fn at_line_end(&self) -> bool {
        &self.bytes[self.at.min(self.bytes.len())..] == b"\r\n" || self.done()
    }

    pub fn space(&mut self) -> bool {
        if self.peek() == Some(b' ') {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Atom characters, and the wildcards and `]` a list-mailbox may hold.
    pub fn atom(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || matches!(b, b'(' | b')' | b'{' | b'"' | b'\\') {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| &self.bytes[start..self.at])
    }

    /// A quoted string, a literal (`{n}` or `{n+}`, CRLF, n bytes) or an atom, as written.
    pub fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        match self.peek()? {
            b'"' => {
                self.at += 1;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.at += 1;
                            return Some(&self.bytes[start..self.at]);
                        }
                        Some(b'\\') => self.at += 2,
                        Some(b'\r' | b'\n') | None => {
                            self.at = start;
                            return None;
                        }
                        Some(_) => self.at += 1,
                    }
                }
            }
            b'{' => {
                let close = self.bytes[start..].iter().position(|&b| b == b'}')? + start;
                let digits = self.bytes[start + 1..close]
                    .strip_suffix(b"+")
                    .unwrap_or(&self.bytes[start + 1..close]);
                let length: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                let data = close + 3;
                if self.bytes.get(close + 1..data) != Some(b"\r\n") {
                    return None;
                }
                let end = data.checked_add(length)?;
                if end > self.bytes.len() {
                    return None;
                }
                self.at = end;
                Some(&self.bytes[start..end])
            }
            _ => self.atom(),
        }
    }

    /// A parenthesised group, nested groups and quoted strings inside kept whole; returns its
    /// inside.
    pub fn group(&mut self) -> Option<&'a [u8]> {
        if self.peek() != Some(b'(') {
            return None;
        }
        let start = self.at;
        let mut depth = 0usize;
        let mut quoted = false;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' if quoted => self.at += 1,
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&self.bytes[start + 1..self.at - 1]);
                    }
                }
                b'{' if !quoted => {
                    // A literal inside (a pattern list may hold one): skip its bytes whole.
                    self.at -= 1;
                    if self.string().is_none() {
                        break;
                    }
                }
                b'\r' | b'\n' => break,
                _ => {}
            }
        }
        self.at = start;
        None
    }
}
