"""A scripted session with Python's imaplib against a NomaMail IMAP server.

Usage: imaplib_session.py HOST PORT USER PASSWORD. Exits non-zero on the first surprise.
"""
import imaplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def ok(result, what):
    typ, data = result
    if typ != "OK":
        sys.exit(f"{what}: {typ} {data}")
    return data


m = imaplib.IMAP4(host, port)
assert "IMAP4REV1" in m.capabilities, m.capabilities
assert "AUTH=PLAIN" in m.capabilities, m.capabilities
try:
    m.login(user, password + "-wrong")
    sys.exit("a wrong password was accepted")
except imaplib.IMAP4.error:
    pass
# AUTHENTICATE PLAIN through a continuation, as imaplib does it.
ok(m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode()), "authenticate")
ok(m.namespace(), "namespace")
listed = ok(m.list(), "list")
assert any(b"\\Sent" in line and line.endswith(b" Sent") for line in listed), listed
ok(m.create("Reports/2026"), "create")
ok(m.subscribe("Reports/2026"), "subscribe")
assert any(b"Reports/2026" in line for line in ok(m.lsub(), "lsub"))

message = (
    b"From: Zoe <zoe@example.org>\r\nTo: team@example.org\r\n"
    b"Subject: =?iso-8859-1?q?R=E9union?=\r\nMessage-ID: <py-1@example.org>\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\nOrdre du jour: caf=E9 et budget\r\n"
)
data = ok(m.append("Reports/2026", "(\\Flagged)", imaplib.Time2Internaldate(1790000000), message), "append")
assert b"APPENDUID" in data[0], data
count = ok(m.select("Reports/2026"), "select")
assert count == [b"1"], count

data = ok(m.fetch("1", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[1])"), "fetch")
assert b"\\Flagged" in data[0][0] and b"\\Seen" in data[0][0], data
assert data[0][1].startswith(b"Subject: =?iso-8859-1?q?R=E9union?="), data
# Searching decoded text: the body is quoted-printable Latin-1.
m.literal = "café".encode()
assert ok(m.search("UTF-8", "BODY"), "search body") == [b"1"]
m.literal = "réunion".encode()
assert ok(m.search("UTF-8", "SUBJECT"), "search subject") == [b"1"]
typ, data = m.search("KOI8-R", "TEXT", "x")
assert typ == "NO" and b"BADCHARSET" in data[0], (typ, data)

# SORT and THREAD as imaplib sends them: a reply filed beside the message it answers.
reply = (
    b"From: Al <al@example.org>\r\nTo: zoe@example.org\r\nSubject: Re: =?iso-8859-1?q?R=E9union?=\r\n"
    b"Message-ID: <py-2@example.org>\r\nIn-Reply-To: <py-1@example.org>\r\n"
    b"References: <py-1@example.org>\r\n\r\nJ'y serai.\r\n"
)
ok(m.append("Reports/2026", None, imaplib.Time2Internaldate(1790000100), reply), "append reply")
ok(m.noop(), "noop")
assert ok(m.sort("(FROM)", "UTF-8", "ALL"), "sort") == [b"2 1"]
assert ok(m.sort("(REVERSE ARRIVAL)", "UTF-8", "ALL"), "sort") == [b"2 1"]
assert ok(m.sort("(SUBJECT ARRIVAL)", "UTF-8", "ALL"), "sort") == [b"1 2"]
assert ok(m.thread("REFERENCES", "UTF-8", "ALL"), "thread") == [b"(1 2)"]
assert ok(m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL"), "uid thread") == [b"(1 2)"]
ok(m.uid("STORE", "2", "+FLAGS", "(\\Deleted)"), "delete reply")
ok(m.expunge(), "expunge reply")

data = ok(m.store("1", "-FLAGS", "(\\Flagged)"), "store")
assert b"\\Flagged" not in data[0], data
ok(m.uid("COPY", "1", "INBOX"), "uid copy")
assert b"MESSAGES 1" in ok(m.status("INBOX", "(MESSAGES)"), "status")[0]
ok(m.uid("MOVE", "1", "Archive"), "uid move")
assert ok(m.search(None, "ALL"), "search all") == [b""]
ok(m.close(), "close")
status = ok(m.status("Archive", "(MESSAGES UIDNEXT)"), "status")
assert b"MESSAGES 1" in status[0], status
ok(m.rename("Reports", '"Old reports"'), "rename")  # imaplib does not quote for us
assert any(b'"Old reports/2026"' in line for line in ok(m.list(), "list"))
ok(m.delete('"Old reports/2026"'), "delete")
m.logout()
print("imaplib session ok")
