"""The message store seen from outside: UIDs and the index at receipt,
quota, and no loss or duplicate across crashes under concurrent load."""

import os
import random
import re
import smtplib
import sqlite3
import threading
import time

import pytest

from conftest import wait_for

UID_RE = re.compile(r",U=(\d+)")


def uidvalidity(server, address):
    path = os.path.join(server.maildir(address), "postern-index.sqlite")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("SELECT uidvalidity FROM mailbox"
                          " WHERE name = 'INBOX'").fetchone()[0]
    finally:
        db.close()


def inbox_files(server, address):
    d = server.maildir(address)
    out = []
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(d, sub)):
            out.append((sub, name))
    return out


def send(server, to, subject, body="x"):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
        c.sendmail("a@example.org", [to],
                   ("Subject: %s\r\n\r\n%s\r\n" % (subject, body)).encode())


def test_file_names_carry_the_sizes(server):
    # S= is the stored size, W= the size with CRLF line ends
    # (RFC822.SIZE). Small messages and large ones are measured by
    # different reads in the store; both must count the same way.
    small = "line\r\n" * 10
    large = ("%s\r\n" % ("y" * 99)) * 3000  # 300 KB
    send(server, "demo@example.test", "small", small)
    send(server, "demo@example.test", "large", large)
    server.wait_messages("demo@example.test", 2)
    d = os.path.join(server.maildir("demo@example.test"), "new")
    names = os.listdir(d)
    assert len(names) == 2
    for name in names:
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        s = int(re.search(r",S=(\d+)", name).group(1))
        w = int(re.search(r",W=(\d+)", name).group(1))
        assert s == len(data)
        assert w == len(data) + data.count(b"\n")
    sizes = sorted(int(re.search(r",S=(\d+)", n).group(1)) for n in names)
    assert sizes[0] < 128 * 1024 < sizes[1]


def test_uids_at_receipt_and_after_index_loss(server):
    for i in range(3):
        send(server, "demo@example.test", "m%d" % i)
    server.wait_messages("demo@example.test", 3)
    files = inbox_files(server, "demo@example.test")
    uids = sorted(int(UID_RE.search(n).group(1)) for _, n in files)
    assert uids == [1, 2, 3]
    server.stop()
    rows = server.index_rows("demo@example.test")
    assert [u for u, _ in rows] == [1, 2, 3]
    validity = uidvalidity(server, "demo@example.test")
    # Lose the index: it is rebuilt from the Maildir, and a new message
    # gets a fresh UID, never an old one.
    d = server.maildir("demo@example.test")
    for f in os.listdir(d):
        if f.startswith("postern-index.sqlite"):
            os.unlink(os.path.join(d, f))
    server.start()
    send(server, "demo@example.test", "after rebuild")
    server.wait_messages("demo@example.test", 4)
    server.stop()
    uids = [u for u, _ in server.index_rows("demo@example.test")]
    # Same UIDs and UIDVALIDITY for the old messages; the new one comes
    # after every UID that may ever have been handed out.
    assert uids[:3] == [1, 2, 3] and uids[3] > 3
    assert uidvalidity(server, "demo@example.test") == validity


def test_quota(make_server):
    s = make_server()
    s.add_user("small@example.test", quota="2K")
    s.start()
    big = "z" * 3000
    # smtplib declares SIZE: the recipient is refused at RCPT, for good.
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"]) as c:
        try:
            c.sendmail("a@example.org", ["small@example.test"],
                       ("Subject: big\r\n\r\n%s\r\n" % big).encode())
            raise AssertionError("accepted a message over the quota")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["small@example.test"]
            assert code == 552 and b"5.2.2" in text
    # Without SIZE the same message is refused at the end of DATA.
    from conftest import Dialogue
    d = Dialogue.greeted(s.ports["smtp"], "q.example")
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<small@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(("Subject: big\r\n\r\n%s\r\n.\r\n" % big).encode())
    code, lines = d.reply()
    assert code == 552 and "5.2.2" in lines[0]
    send(s, "small@example.test", "fits", "y" * 1000)
    # Not enough room left: temporary, at RCPT.
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"]) as c:
        try:
            c.sendmail("a@example.org", ["small@example.test"],
                       ("Subject: no room\r\n\r\n%s\r\n" % ("y" * 1000)).encode())
            raise AssertionError("accepted a message past the quota")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["small@example.test"]
            assert code == 452 and b"4.2.2" in text
    # ...and without SIZE, at the end of DATA, nothing half-written.
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<small@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(("Subject: no room\r\n\r\n%s\r\n.\r\n" % ("y" * 1000)).encode())
    code, lines = d.reply()
    assert code == 452 and "4.2.2" in lines[0]
    msgs = s.messages("small@example.test")
    assert len(msgs) == 1 and b"Subject: fits" in msgs[0]


def test_concurrent_deliveries_survive_kill_9(make_server):
    s = make_server()
    users = ["u%d@example.test" % i for i in range(4)]
    for u in users:
        s.add_user(u)
    s.start()
    acked = []
    lock = threading.Lock()
    stop = threading.Event()
    rng = random.Random(1234)

    def sender(n):
        i = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline and i < 400:
            to = users[(n + i) % len(users)]
            subject = "s%d-%d" % (n, i)
            i += 1
            try:
                send(s, to, subject, "body of " + subject)
            except (smtplib.SMTPException, OSError):
                time.sleep(0.05)
                continue
            with lock:
                acked.append((to, subject))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 1.2))
        s.kill()  # SIGKILL at whatever point the load is
        s.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(90)
    # One more message each, so that the last queue process has opened
    # every account (which clears what a killed one left in new/).
    for u in users:
        send(s, u, "last", "body of last")
        acked.append((u, "last"))
    s.stop()
    assert len(acked) > 20
    for u in users:
        subjects = []
        for m in s.messages(u, "new"):
            subjects.append(m.split(b"Subject: ", 1)[1].split(b"\n", 1)[0].decode())
            # no partial file: every message ends with its whole body
            assert m.endswith(("\n\nbody of %s\n" % subjects[-1]).encode())
        want = sorted(sub for to, sub in acked if to == u)
        # every acknowledged message exactly once (an unacknowledged one
        # may also be there: the client was never told either way)
        for sub in want:
            assert subjects.count(sub) == 1, (u, sub)
        assert len(subjects) == len(set(subjects))
        # the index agrees with the Maildir
        files = inbox_files(s, u)
        rows = s.index_rows(u)
        assert len(rows) == len(files)
        uids = [uid for uid, _ in rows]
        assert len(set(uids)) == len(uids)
        names = {n.split(":")[0] for _, n in files}
        assert {base for _, base in rows} == names
        # no UID carried by two files
        carried = [int(UID_RE.search(n).group(1)) for _, n in files]
        assert len(set(carried)) == len(carried)


def nearly_full_server(make_server):
    """full@ (quota 2K) holds 1,200 bytes; other@ has no quota."""
    s = make_server()
    s.add_user("full@example.test", quota="2K")
    s.add_user("other@example.test")
    s.start()
    send(s, "full@example.test", "fills it", "f" * 1200)
    s.wait_messages("full@example.test", 1)
    return s


def test_quota_refusal_at_end_of_data_undoes_the_others_and_locks_nothing(make_server):
    s = nearly_full_server(make_server)
    send(s, "other@example.test", "first", "o")
    s.wait_messages("other@example.test", 1)
    from conftest import Dialogue
    d = Dialogue.greeted(s.ports["smtp"], "q.example")
    # No SIZE: the quota check at RCPT passes, the end of DATA does not.
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<other@example.test>")[0] == 250
    assert d.cmd("RCPT TO:<full@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: too big\r\n\r\n" + b"s" * 1400 + b"\r\n.\r\n")
    code, lines = d.reply()
    assert code == 452 and "4.2.2" in lines[0]
    # Nothing of it for anyone, and no account's index stays locked (an
    # IMAP session of either could not change a flag otherwise).
    assert len(s.messages("other@example.test")) == 1
    assert len(s.messages("full@example.test")) == 1
    for address in ("other@example.test", "full@example.test"):
        path = os.path.join(s.maildir(address), "postern-index.sqlite")
        db = sqlite3.connect(path, timeout=1.0)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.rollback()
        finally:
            db.close()
    assert [u for u, _ in s.index_rows("other@example.test")] == [1]


def test_full_mailbox_refused_at_rcpt_for_that_recipient_only(make_server):
    s = nearly_full_server(make_server)
    from conftest import Dialogue
    d = Dialogue.greeted(s.ports["smtp"], "q.example")
    # The declared size cannot fit in what is left of the quota.
    d.cmd("MAIL FROM:<a@example.org> SIZE=1500")
    assert d.cmd("RCPT TO:<other@example.test>")[0] == 250
    code, lines = d.cmd("RCPT TO:<full@example.test>")
    assert code == 452 and "4.2.2" in lines[0]
    # The transaction goes on for the recipient with room.
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: shared\r\n\r\n" + b"s" * 1400 + b"\r\n.\r\n")
    assert d.reply()[0] == 250
    assert len(s.wait_messages("other@example.test", 1)) == 1
    assert len(s.messages("full@example.test")) == 1
    # A small message still fits.
    d.cmd("MAIL FROM:<a@example.org> SIZE=100")
    assert d.cmd("RCPT TO:<full@example.test>")[0] == 250


def test_more_accounts_than_the_queue_keeps_open(make_server):
    # The queue keeps 128 accounts open between deliveries and closes the
    # least recently used ones beyond that: every delivery still arrives,
    # also to an account that was closed and is opened again.
    s = make_server()
    n = 140
    with open(os.path.join(s.dir, "users"), "a") as f:
        for i in range(n):
            f.write("u%d@example.test:*\n" % i)
    s.start()
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30) as c:
        for rnd in range(2):
            for i in range(n):
                c.sendmail("a@example.org", ["u%d@example.test" % i],
                           ("Subject: r%d u%d\r\n\r\nx\r\n" % (rnd, i)).encode())
    for i in range(n):
        msgs = s.wait_messages("u%d@example.test" % i, 2)
        assert sorted(m.split(b"Subject: ")[1].split(b"\n")[0] for m in msgs) == \
            [b"r0 u%d" % i, b"r1 u%d" % i]
        assert len(s.index_rows("u%d@example.test" % i)) == 2


def ext_without_journal(path):
    """True if `path` is on ext2/3/4 with no journal listed by jbd2, False
    if it is on another file system or has one, None if /proc and /sys do
    not tell."""
    st = os.stat(path)
    dev = "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    fstype = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[2] == dev:
                fstype = right.split()[0]
    if fstype is None:
        return None
    if fstype not in ("ext2", "ext3", "ext4"):
        return False
    try:
        name = os.path.basename(os.readlink("/sys/dev/block/" + dev))
        journals = os.listdir("/proc/fs/jbd2")
    except OSError:
        return None
    return not any(j.startswith(name + "-") for j in journals)


def test_flush_mode_follows_the_file_system(server):
    """The queue adds a device flush after syncfs exactly where the data
    directory's file system needs one, and delivery works either way."""
    expect = ext_without_journal(server.data)
    if expect is None:
        pytest.skip("cannot tell the data directory's file system")
    send(server, "demo@example.test", "after the flush")
    server.wait_messages("demo@example.test", 1)
    log = server.read_log()
    assert ("event=flush-mode dir=spool" in log) == expect, log


def test_entry_left_by_a_delivery_that_died_before_its_commit(make_server):
    """A queue killed between its link into new/ and the index commit
    leaves a postern-made entry carrying the next UID and no row, a link
    to the spool file it also leaves. It was never acknowledged and its
    sender sends it again: the restarted queue moves it to tmp/ before it
    gives that UID to the next message. A file of the same shape that is
    no spool file's (restored from a backup) stays."""
    s = make_server()
    addr = "demo@example.test"
    s.add_user(addr)
    s.start()
    send(s, addr, "first")
    s.wait_messages(addr, 1)
    s.stop()
    (uid, base), = s.index_rows(addr)
    new = os.path.join(s.maildir(addr), "new")

    def postern_name(unique, body, u):
        return "%s,S=%d,W=%d,U=%d" % (unique, len(body),
                                      len(body) + body.count(b"\n"), u)
    body = b"Return-Path: <a@example.org>\nSubject: stray\n\nnever acknowledged\n"
    spool = os.path.join(s.data, "spool", "tmp", "0123456789ABCDEF")
    with open(spool, "wb") as f:
        f.write(body)
    stray = postern_name("1000000000.M1P1Q1.stray", body, uid + 1)
    os.link(spool, os.path.join(new, stray))
    kept_body = b"Subject: restored\n\nfrom a backup\n"
    restored = postern_name("1000000000.M1P1Q2.backup", kept_body, uid + 2)
    with open(os.path.join(new, restored), "wb") as f:
        f.write(kept_body)
    s.start()
    send(s, addr, "second")
    s.wait_messages(addr, 3)
    assert os.listdir(os.path.join(s.maildir(addr), "tmp")) == [stray]
    assert restored in os.listdir(new)
    assert "event=stray-delivery file=%s" % stray in s.read_log()
    assert not os.path.exists(spool)
    rows = s.index_rows(addr)
    assert [r[0] for r in rows] == [uid, uid + 1]
    second = [n for _, n in inbox_files(s, addr) if ",U=%d" % (uid + 1) in n]
    assert len(second) == 1 and second[0] == rows[1][1]
