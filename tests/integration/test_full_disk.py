"""A full disk: the data directory on a small tmpfs of the test's own.
Mail is refused with a temporary error while there is no room, nothing
half-delivered stays behind, what was acknowledged before is kept, and
the server delivers again as soon as there is room."""

import errno
import os
import subprocess

import pytest

from conftest import Dialogue

FS_SIZE = 4 * 1024 * 1024
PAGE = 4096


def mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % FS_SIZE,
                        "postern-test", path], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())


def fill(path, leave_pages=0):
    """Fills the file system at `path` with one filler file, then frees
    `leave_pages` pages of it. Returns the filler's paths."""
    p = os.path.join(path, "filler")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * PAGE)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
        size = os.fstat(fd).st_size
        os.ftruncate(fd, max(0, size - leave_pages * PAGE))
    finally:
        os.close(fd)
    return [p]


def unfill(made):
    for p in made:
        os.unlink(p)


def transaction(server, subject, rcpt="demo@example.test", size=1500):
    """One message over a raw dialogue: the final reply's code and text."""
    d = Dialogue.greeted(server.ports["smtp"], "full.example")
    try:
        assert d.cmd("MAIL FROM:<a@example.org>")[0] == 250
        code, lines = d.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return code, lines[0]
        code, lines = d.cmd("DATA")
        if code != 354:
            return code, lines[0]
        d.send(("Subject: %s\r\n\r\n%s\r\n.\r\n" % (subject, "f" * size)).encode())
        code, lines = d.reply()
        # The session goes on after a refusal.
        assert d.cmd("RSET")[0] == 250
        d.cmd("QUIT")
        return code, lines[0]
    finally:
        d.close()


def test_full_disk_refuses_for_now_and_loses_nothing(make_server):
    s = make_server()
    mount_tmpfs(s.data)
    try:
        s.add_user("demo@example.test")
        s.start()
        code, _ = transaction(s, "before")
        assert code == 250
        s.wait_messages("demo@example.test", 1)

        # No room at all: the message cannot even be written.
        made = fill(s.data)
        code, text = transaction(s, "no room")
        assert text.startswith("452 4.3.1"), text
        unfill(made)

        # More and more room: whether the data, the entry or the index
        # runs out first, each message is refused with RFC 3463's "mail
        # system full" and leaves nothing, until one fits and is delivered
        # once. On the way the index must have been the one to run out.
        accepted = ["before"]
        for leave in range(0, 64):
            made = fill(s.data, leave)
            code, text = transaction(s, "room %d" % leave)
            unfill(made)
            if code == 250:
                accepted.append("room %d" % leave)
                break
            assert text.startswith("452 4.3.1"), text
        assert len(accepted) == 2 and accepted[1] != "room 0", accepted
        assert "event=index-error" in s.read_log()

        # Room again: delivery works, and the mailbox holds exactly what
        # was acknowledged, each once, with an index row for each file.
        code, text = transaction(s, "after")
        assert code == 250, text
        accepted.append("after")
        msgs = s.wait_messages("demo@example.test", len(accepted))
        subjects = sorted(m.split(b"Subject: ")[1].split(b"\n")[0].decode()
                          for m in msgs)
        assert subjects == sorted(accepted)
        assert len(s.index_rows("demo@example.test")) == len(accepted)
        assert os.listdir(os.path.join(s.data, "spool", "tmp")) == []
    finally:
        if s.proc is not None:
            s.stop()
        subprocess.run(["umount", "-l", s.data], check=False)


def test_full_disk_at_an_accounts_first_message(make_server):
    """An account's Maildir and index are made at its first delivery: on a
    full disk that is refused with 452 4.3.1 too, and the half-made
    account takes mail once there is room."""
    s = make_server()
    mount_tmpfs(s.data)
    try:
        for k in range(8):
            s.add_user("fresh%d@example.test" % k)
        s.start()
        for k in range(8):
            rcpt = "fresh%d@example.test" % k
            made = fill(s.data, k)
            code, text = transaction(s, "tight", rcpt=rcpt, size=100)
            unfill(made)
            assert text.startswith("452 4.3.1"), text
            code, text = transaction(s, "roomy", rcpt=rcpt, size=100)
            assert code == 250, text
            msgs = s.wait_messages(rcpt, 1)
            assert len(msgs) == 1 and b"Subject: roomy" in msgs[0]
            assert len(s.index_rows(rcpt)) == 1
        assert "event=index-error" in s.read_log()
    finally:
        if s.proc is not None:
            s.stop()
        subprocess.run(["umount", "-l", s.data], check=False)
