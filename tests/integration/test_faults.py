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
    return [uid for uid, _ in server.index_rows(ADDR)]


def session(server):
    return Dialogue.greeted(server.ports["smtp"], "faults.example")


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
    assert s.spool_tmp() == []
    log = s.read_log()
    assert "event=fault step=queue-flush" in log
    assert "event=flush-failed" in log


def killed_at(make_server, step):
    """A server whose queue is killed at `step` during the message
    "first": the session answers 451 (the client will send it again).
    Returned stopped, to start again without the fault."""
    s = make_server()
    s.add_user(ADDR)
    s.start(env={"POSTERN_FAULT": "%s@1=kill" % step})
    d = session(s)
    code, lines = d.transaction_reply("first")
    assert code == 451, lines
    d.close()
    s.stop()
    return s


def test_queue_killed_between_link_and_commit(make_server):
    # The message was linked into new/ but never committed.
    s = killed_at(make_server, "store-linked")
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
    assert s.spool_tmp() == []


def test_queue_killed_after_the_flush_before_the_answer(make_server):
    # Durable but never acknowledged.
    s = killed_at(make_server, "queue-flushed")
    s.start()
    wait_for(lambda: s.spool_tmp() == [], 10, "the spool to be cleaned")
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
