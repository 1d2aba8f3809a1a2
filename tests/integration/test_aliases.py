"""Aliases, forwarding, plus-addressing, catch-alls and loop detection."""

import os
import smtplib
import subprocess

from conftest import POSTERN, POSTERND, Dialogue

ALIASES = """\
# team addresses
sales: alice, bob
info@example.test: alice
fwd: alice, far@elsewhere.example
loop1: loop2
loop2: loop1
@other.test: carol@example.test
"""


def aliased_server(make_server, extra=""):
    s = make_server(domains=("example.test", "other.test"),
                    extra_config="aliases_file aliases\n" + extra)
    with open(os.path.join(s.dir, "aliases"), "w") as f:
        f.write(ALIASES)
    for u in ("alice", "bob", "carol"):
        s.add_user(u + "@example.test")
    s.start()
    return s


def send(s, to, body=b"Subject: t\r\n\r\nhello\r\n"):
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"]) as c:
        return c.sendmail("x@example.org", to, body)


def test_alias_expands_with_delivered_to(make_server):
    s = aliased_server(make_server)
    send(s, ["sales@example.test"])
    for u in ("alice", "bob"):
        msg = s.wait_messages(u + "@example.test", 1)[0]
        assert msg.startswith(b"Return-Path: <x@example.org>\n"
                              b"Delivered-To: sales@example.test\n")
        assert msg.endswith(b"\n\nhello\n")
    assert s.messages("carol@example.test") == []
    # The temporary Delivered-To copy is gone from the spool.
    assert os.listdir(os.path.join(s.data, "spool", "tmp")) == []


def test_alias_and_direct_recipient_get_one_copy(make_server):
    s = aliased_server(make_server)
    send(s, ["sales@example.test", "alice@example.test", "info@example.test"])
    assert len(s.wait_messages("alice@example.test", 1)) == 1
    assert len(s.wait_messages("bob@example.test", 1)) == 1


def test_plus_addressing_and_catch_all(make_server):
    s = aliased_server(make_server)
    send(s, ["bob+lists@example.test"])
    msg = s.wait_messages("bob@example.test", 1)[0]
    assert b"Delivered-To:" not in msg.split(b"\n\n")[0]
    send(s, ["anything@other.test"])
    assert len(s.wait_messages("carol@example.test", 1)) == 1
    d = Dialogue.greeted(s.ports["smtp"], "t.example")
    d.cmd("MAIL FROM:<x@example.org>")
    assert d.cmd("RCPT TO:<nobody@example.test>")[1][0].startswith("550 5.1.1")


def test_alias_loop_refused_at_rcpt(make_server):
    s = aliased_server(make_server)
    d = Dialogue.greeted(s.ports["smtp"], "t.example")
    d.cmd("MAIL FROM:<x@example.org>")
    code, lines = d.cmd("RCPT TO:<loop1@example.test>")
    assert code == 550 and "5.4.6" in lines[0]


def test_message_seen_through_the_alias_before_is_a_loop(make_server):
    s = aliased_server(make_server)
    d = Dialogue.greeted(s.ports["smtp"], "t.example")
    d.cmd("MAIL FROM:<x@example.org>")
    assert d.cmd("RCPT TO:<sales@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(b"Delivered-To: sales@example.test\r\nSubject: again\r\n\r\nx\r\n.\r\n")
    code, lines = d.reply()
    assert code == 554 and "5.4.6" in lines[0]
    assert s.messages("alice@example.test") == []


def test_remote_alias_member_is_queued_without_relay_rights(make_server):
    s = aliased_server(make_server)
    send(s, ["fwd@example.test"])
    assert len(s.wait_messages("alice@example.test", 1)) == 1
    out = s.postern("queue", "list").stdout
    assert "<far@elsewhere.example> pending" in out


def test_torn_queued_message_is_quarantined_at_start(make_server):
    # What a power cut during the flush after a commit may leave: the
    # queue's entries made, the message file's data not all on disk. That
    # message was never acknowledged; it must not be relayed truncated.
    s = aliased_server(make_server)
    send(s, ["fwd@example.test"])
    send(s, ["fwd@example.test"])
    assert len(s.wait_messages("alice@example.test", 2)) == 2
    s.stop()
    msgdir = os.path.join(s.data, "spool", "msg")
    ids = sorted(os.listdir(msgdir))
    assert len(ids) == 2
    torn, whole = ids
    os.truncate(os.path.join(msgdir, torn), 10)
    s.start()
    out = s.postern("queue", "list").stdout
    assert whole in out and torn not in out
    corrupt = os.path.join(s.data, "spool", "corrupt")
    assert sorted(os.listdir(corrupt)) == [torn, torn + ".msg"]
    assert "msg=%s event=quarantined reason=message-file-size" % torn in s.read_log()


def test_postmaster_always_reaches_someone(make_server):
    s = aliased_server(make_server)
    send(s, ["postmaster@example.test"])
    # No alias or account of that name: the domain's first account.
    assert len(s.wait_messages("alice@example.test", 1)) == 1
    d = Dialogue.greeted(s.ports["smtp"], "t.example")
    d.cmd("MAIL FROM:<x@example.org>")
    assert d.cmd("RCPT TO:<Postmaster>")[0] == 250


def test_vrfy_and_expn_for_trusted_clients(make_server):
    s = aliased_server(make_server, "relay_network 127.0.0.0/8\n")
    d = Dialogue.greeted(s.ports["smtp"], "t.example")
    code, lines = d.cmd("VRFY alice")
    assert code == 250 and "<alice@example.test>" in lines[0]
    assert d.cmd("VRFY nobody")[0] == 550
    code, lines = d.cmd("EXPN sales")
    assert code == 250 and len(lines) == 2
    assert "<alice@example.test>" in " ".join(lines)
    assert "<bob@example.test>" in " ".join(lines)


def test_newaliases_and_check(make_server):
    s = aliased_server(make_server)
    # The loop between loop1 and loop2 is reported, with its line.
    r = s.postern("aliases", "check", check=False)
    assert r.returncode == 1 and "loop" in (r.stdout + r.stderr).lower()
    newaliases = os.path.join(os.path.dirname(POSTERN), "newaliases")
    env = dict(os.environ, POSTERN_CONFIG=s.conf)
    r = subprocess.run([newaliases], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    with open(os.path.join(s.dir, "aliases"), "w") as f:
        f.write(ALIASES.replace("loop1: loop2\nloop2: loop1\n", ""))
    r = subprocess.run([newaliases], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "4 aliases" in r.stdout
    out = s.postern("aliases", "resolve", "sales@example.test").stdout
    assert "alice@example.test" in out and "bob@example.test" in out


def test_bad_aliases_file_refuses_start(make_server):
    s = make_server(extra_config="aliases_file aliases\n")
    with open(os.path.join(s.dir, "aliases"), "w") as f:
        f.write("ok: alice\nbad: |/bin/sh -c evil\n")
    r = subprocess.run([POSTERND, "--config", s.conf, "--foreground"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "aliases:2:" in r.stderr


def test_huge_expansions_are_bounded_per_transaction(make_server):
    s = make_server(extra_config="aliases_file aliases\n")
    with open(os.path.join(s.dir, "aliases"), "w") as f:
        for a in range(20):
            # continuation lines keep each line under the 4 KiB bound
            names = ["member-%04d-of-list-%02d@far.example" % (m, a)
                     for m in range(1000)]
            if a == 19:
                names[-1] = "late@example.test"
            members = ",\n  ".join(names)
            f.write("list%02d: %s\n" % (a, members))
    s.add_user("demo@example.test")
    s.add_user("late@example.test")
    s.start()
    d = Dialogue.greeted(s.ports["smtp"], "big.example", timeout=60)
    d.cmd("MAIL FROM:<a@example.org>")
    codes = [d.cmd("RCPT TO:<list%02d@example.test>" % a)[0] for a in range(20)]
    # Each list adds ~50 KB to the commit: the first ones fit, the rest
    # are refused as too many recipients, and the session goes on.
    assert codes[0] == 250 and 452 in codes
    accepted = codes.count(250)
    assert codes == [250] * accepted + [452] * (20 - accepted)
    # late@ was only a target of the refused list19: named directly it
    # is a recipient of its own, not a duplicate of something refused.
    assert d.cmd("RCPT TO:<late@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
    code, lines = d.reply()
    assert code == 250
    qid = lines[0].rsplit(" ", 1)[1]
    with open(os.path.join(s.data, "spool", "env", qid), "rb") as f:
        assert f.read().count(b"\nrcpt ") == accepted * 1000
    assert len(s.wait_messages("late@example.test", 1)) == 1
