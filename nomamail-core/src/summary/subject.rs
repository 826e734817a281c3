//! RFC 5256 §2.1 base subject: the subject with the artifacts of replying, forwarding and
//! mailing-list tagging taken off, as SORT (SUBJECT) and THREAD compare it.
//!
//! The RFC requires every server and disconnected client to use exactly this procedure, so a
//! user sees the same order online and offline; this follows its steps and ABNF literally
//! rather than guessing at what mail programs meant.
//!
//! ```text
//! subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//! subj-blob    = "[" *BLOBCHAR "]" *WSP
//! subj-fwd-hdr = "[fwd:"
//! subj-fwd-trl = "]"
//! subj-leader  = (*subj-blob subj-refwd) / WSP
//! subj-trailer = "(fwd)" / WSP
//! ```

/// A base subject and whether taking it out showed the message to be a reply or forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSubject {
    /// Case kept as written: the RFC compares base subjects case-insensitively, and a caller
    /// may still want to show one.
    pub text: String,
    /// A subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper was removed: what REFERENCES
    /// threading (step 5) calls "a reply or forward". A list tag alone does not count.
    pub reply_or_forward: bool,
}

/// The base subject of a subject already decoded from RFC 2047 words.
pub fn base_subject(subject: &str) -> BaseSubject {
    let folded = fold_whitespace(subject);
    let mut rest = folded.as_str();
    let mut reply_or_forward = false;
    loop {
        rest = strip_trailers(rest, &mut reply_or_forward);
        rest = strip_leaders_and_blobs(rest, &mut reply_or_forward);
        match unwrap_fwd(rest) {
            Some(inner) => {
                rest = inner;
                reply_or_forward = true;
            }
            None => break,
        }
    }
    BaseSubject {
        text: rest.to_string(),
        reply_or_forward,
    }
}

/// Step 1: tabs and line breaks (what is left of folding) become spaces, and runs of spaces
/// one space. Only these ASCII characters: the RFC's WSP is SP / HTAB, so other Unicode spaces
/// are text.
fn fold_whitespace(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut after_space = false;
    for c in subject.chars() {
        let space = matches!(c, ' ' | '\t' | '\r' | '\n');
        if space && after_space {
            continue;
        }
        out.push(if space { ' ' } else { c });
        after_space = space;
    }
    out
}

/// Step 2: trailing spaces and "(fwd)", until neither is left.
fn strip_trailers<'a>(mut rest: &'a str, reply_or_forward: &mut bool) -> &'a str {
    loop {
        if let Some(shorter) = rest.strip_suffix(' ') {
            rest = shorter;
        } else if ends_with_ignore_case(rest, "(fwd)") {
            rest = &rest[..rest.len() - "(fwd)".len()];
            *reply_or_forward = true;
        } else {
            return rest;
        }
    }
}

/// Steps 3 to 5: leaders, then one blob if something is left after it, until neither moves.
fn strip_leaders_and_blobs<'a>(mut rest: &'a str, reply_or_forward: &mut bool) -> &'a str {
    loop {
        rest = strip_leaders(rest, reply_or_forward);
        match blob_len(rest) {
            // A blob that is all there is stays: it is the base subject ("[list]").
            Some(len) if len < rest.len() => rest = &rest[len..],
            _ => return rest,
        }
    }
}

/// Step 3: leading spaces and `*subj-blob subj-refwd` runs.
fn strip_leaders<'a>(mut rest: &'a str, reply_or_forward: &mut bool) -> &'a str {
    loop {
        if let Some(shorter) = rest.strip_prefix(' ') {
            rest = shorter;
        } else if let Some(len) = leader_len(rest) {
            rest = &rest[len..];
            *reply_or_forward = true;
        } else {
            return rest;
        }
    }
}

/// The length of a `*subj-blob subj-refwd` at the start of `text`. Blobs start with "[" and a
/// subj-refwd never does, so taking every blob first is the only way the rule can match.
fn leader_len(text: &str) -> Option<usize> {
    let mut at = 0;
    while let Some(len) = blob_len(&text[at..]) {
        at += len;
    }
    Some(at + refwd_len(&text[at..])?)
}

/// The length of a subj-refwd at the start of `text`.
fn refwd_len(text: &str) -> Option<usize> {
    let mut at = if starts_with_ignore_case(text, "re") {
        2
    } else if starts_with_ignore_case(text, "fwd") {
        3
    } else if starts_with_ignore_case(text, "fw") {
        2
    } else {
        return None;
    };
    at += spaces_len(&text[at..]);
    at += blob_len(&text[at..]).unwrap_or(0);
    text[at..].starts_with(':').then_some(at + 1)
}

/// The length of a subj-blob, trailing spaces included, at the start of `text`. BLOBCHAR is
/// any octet but NUL, "[" and "]"; bytes of a multi-byte character are all over 0x7f, so a
/// blob always ends on a character boundary.
fn blob_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix('[')?;
    let close = body.find([']', '[', '\0'])?;
    if !body[close..].starts_with(']') {
        return None;
    }
    let end = 1 + close + 1;
    Some(end + spaces_len(&text[end..]))
}

fn spaces_len(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// Step 6: the inside of a `[fwd: ... ]` wrapper.
fn unwrap_fwd(text: &str) -> Option<&str> {
    const HEADER: &str = "[fwd:";
    if !starts_with_ignore_case(text, HEADER) {
        return None;
    }
    text[HEADER.len()..].strip_suffix(']')
}

/// ABNF string literals are case-insensitive in ASCII only.
fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, text: &str, reply_or_forward: bool) {
        assert_eq!(
            base_subject(input),
            BaseSubject {
                text: text.to_string(),
                reply_or_forward
            },
            "base subject of {input:?}"
        );
    }

    #[test]
    fn plain_subjects_are_kept() {
        check("hello", "hello", false);
        check("Hello World", "Hello World", false);
        check("", "", false);
        check("   ", "", false);
        check("Rebuttal: none", "Rebuttal: none", false);
        check("Fwdx: y", "Fwdx: y", false);
        check("Read me", "Read me", false);
        check("re", "re", false);
        check("x (fwd) y", "x (fwd) y", false);
        check("Ünïcödé: ok", "Ünïcödé: ok", false);
    }

    #[test]
    fn whitespace_is_folded() {
        check("  hello   world  ", "hello world", false);
        check("hello\tworld", "hello world", false);
        check("hello\r\n world", "hello world", false);
        check("a \t b", "a b", false);
        // Only SP and HTAB are WSP: a no-break space is text.
        check("a\u{a0}b", "a\u{a0}b", false);
    }

    #[test]
    fn replies_and_forwards_lose_their_leaders() {
        check("Re: hello", "hello", true);
        check("RE: hello", "hello", true);
        check("re:hello", "hello", true);
        check("Re:Re: x", "x", true);
        check("Re: Re: Re: x", "x", true);
        check("Fw: hello", "hello", true);
        check("FWD: hello", "hello", true);
        check("Fwd : hello", "hello", true);
        check("Re   : hello", "hello", true);
        check("Re:", "", true);
        check("Re: ", "", true);
        check("Re: Fwd: Fw: x", "x", true);
    }

    #[test]
    fn a_blob_inside_a_reply_leader_goes() {
        check("re [foo]: bar", "bar", true);
        check("Re[2]: hello", "hello", true);
        check("Re [2] : hello", "hello", true);
        check("Fwd[x]:y", "y", true);
        // Only one blob may sit between the keyword and the colon.
        check("Re[1][2]: x", "Re[1][2]: x", false);
    }

    #[test]
    fn list_tags_go_when_something_is_left() {
        check("[list] hello", "hello", false);
        check("[list]hello", "hello", false);
        check("[a] [b] hello", "hello", false);
        check("[a][b]", "[b]", false);
        check("[a] [b]", "[b]", false);
        check("[list]", "[list]", false);
        check("[list]  ", "[list]", false);
        check("[]", "[]", false);
        check("[] x", "x", false);
        check("[unclosed hello", "[unclosed hello", false);
        check("[a [b] c", "[a [b] c", false);
        check("[ä] x", "x", false);
    }

    #[test]
    fn list_tags_and_replies_mix() {
        check("RE: [list] Re: hello", "hello", true);
        check("[list] Re: hello", "hello", true);
        check("[a][b] Re: hello", "hello", true);
        check("Re: [list] hello", "hello", true);
        check("[list] Re: [list] Re: x", "x", true);
        check("Re: [list]", "[list]", true);
        check("[list] Re:", "", true);
    }

    #[test]
    fn fwd_trailers_go() {
        check("Fwd: hello (fwd)", "hello", true);
        check("hello (fwd)", "hello", true);
        check("hello (FWD)", "hello", true);
        check("hello(fwd)(fwd) (fwd)", "hello", true);
        check("hello (fwd) ", "hello", true);
        check("(fwd)", "", true);
    }

    #[test]
    fn fwd_wrappers_go() {
        check("[fwd: hello]", "hello", true);
        check("[FWD: hello]", "hello", true);
        check("[Fwd: Re: hello]", "hello", true);
        check("[fwd: [fwd: hello]]", "hello", true);
        check("[fwd: hello (fwd)]", "hello", true);
        check("[fwd:]", "", true);
        check("[fwd: hello] (fwd)", "hello", true);
        // A wrapper followed by more text is a blob, and goes as a blob does.
        check("[fwd: a] b", "b", false);
        check("[fwd: hello", "[fwd: hello", false);
    }
}
