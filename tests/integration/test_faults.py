"""Crash and failure windows of the group commit, made exact with
POSTERN_FAULT (src/core/fault.h): a flush that fails, a queue killed
between its link into new/ and its commit, and one killed after a flush
but before its answer. Each time nothing acknowledged is lost, nothing
is delivered twice by postern, and the index agrees with the Maildir."""

import os
import re

from conftest import Dialogue, wait_for

ADDR = "demo@example.test"
UID_RE = re.compile(r",U=(\d+)")


def inbox(server):
    """(subject, uid) of every file in INBOX, by UID."""
    out = []
    d = server.maildir(ADDR)
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(d, sub)):
            with open(os.path.join(d, sub, name), "rb") as f:
                subject = f.read().split(b"Subject: ", 1)[1].split(b"\n", 1)[0]
            out.append((subject.decode(), int(UID_RE.search(name).group(1))))
    return sorted(out, key=lambda x: x[1])


def index_uids(server):
    import sqlite3
    path = os.path.join(server.maildir(ADDR), "postern-index.sqlite")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return [r[0] for r in db.execute(
            "SELECT uid FROM message JOIN mailbox ON mailbox.id ="
            " message.mailbox WHERE mailbox.name = 'INBOX' ORDER BY uid")]
    finally:
        db.close()


def spool_tmp(server):
    return os.listdir(os.path.join(server.data, "spool", "tmp"))


def session(server):
    d = Dialogue(server.ports["smtp"])
    d.reply()
    d.cmd("EHLO faults.example")
    return d


def test_failed_flush_is_answered_451_and_undone(make_server):
    s = make_server()
    s.add_user(ADDR)
    s.start(env={"POSTERN_FAULT": "queue-flush@1=EIO"})
    d = session(s)
    code, lines = d.transaction_reply("first")
    assert code == 451 and "4.3.0" in lines[0], lines
    # The session goes on, the next flush works, and the undone
    # message's UID is not given again.
    assert d.transaction("second") == 250
    d.close()
    assert inbox(s) == [("second", 2)]
    assert index_uids(s) == [2]
    assert spool_tmp(s) == []
    log = s.read_log()
    assert "event=fault step=queue-flush" in log
    assert "event=flush-failed" in log


def test_queue_killed_between_link_and_commit(make_server):
    s = make_server()
    s.add_user(ADDR)
    s.start(env={"POSTERN_FAULT": "store-linked@1=kill"})
    d = session(s)
    code, lines = d.transaction_reply("first")
    # The queue died with the message linked but not committed: the
    # session answers 451 and the client will send it again.
    assert code == 451, lines
    d.close()
    s.stop()
    assert len(os.listdir(os.path.join(s.maildir(ADDR), "new"))) == 1
    s.start()
    d = session(s)
    assert d.transaction("first") == 250  # the client's retry
    assert d.transaction("second") == 250
    d.close()
    # One copy of each: the entry the killed queue left went to tmp/.
    assert [subj for subj, _ in inbox(s)] == ["first", "second"]
    assert index_uids(s) == [uid for _, uid in inbox(s)]
    assert len(os.listdir(os.path.join(s.maildir(ADDR), "tmp"))) == 1
    assert "event=stray-delivery" in s.read_log()
    assert spool_tmp(s) == []


def test_queue_killed_after_the_flush_before_the_answer(make_server):
    s = make_server()
    s.add_user(ADDR)
    s.start(env={"POSTERN_FAULT": "queue-flushed@1=kill"})
    d = session(s)
    code, lines = d.transaction_reply("first")
    # Durable but never acknowledged: the client is told to try again.
    assert code == 451, lines
    d.close()
    s.stop()
    s.start()
    wait_for(lambda: spool_tmp(s) == [], 10, "the spool to be cleaned")
    # The message is there once, with its row, and postern did not
    # deliver it again on its own; the client's retry (not made here)
    # would add the second copy RFC 5321 6.1 accepts.
    assert inbox(s) == [("first", 1)]
    assert index_uids(s) == [1]
    d = session(s)
    assert d.transaction("second") == 250
    d.close()
    assert inbox(s) == [("first", 1), ("second", 2)]
    assert index_uids(s) == [1, 2]
