"""SMTP receive for local users: what a sender and a mailbox owner see."""

import os
import signal
import smtplib
import ssl
import subprocess
import time

from conftest import POSTERN, Dialogue, wait_for

BODY = (b"From: Alice <alice@example.org>\r\n"
        b"To: demo@example.test\r\n"
        b"Subject: hello\r\n"
        b"\r\n"
        b"first line\r\n"
        b".a line that starts with a dot\r\n"
        b"..two dots\r\n"
        b".\tdot tab\r\n"
        b"last line\r\n")


def split_trace(msg):
    """Returns (trace header lines, the rest) of a stored message."""
    lines = msg.split(b"\n")
    assert lines[0].startswith(b"Return-Path: <")
    i = 1
    assert lines[i].startswith(b"Received: from ")
    i += 1
    while lines[i].startswith(b"\t"):
        i += 1
    return lines[:i], b"\n".join(lines[i:])


def after_rcpt(server):
    """A raw dialogue with one transaction up to an accepted RCPT."""
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    return d


def test_smtplib_delivers_exact_bytes(server):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"]) as c:
        c.ehlo("client.example.org")
        c.sendmail("alice@example.org", ["demo@example.test"], BODY)
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1
    trace, rest = split_trace(msgs[0])
    assert trace[0] == b"Return-Path: <alice@example.org>"
    assert b"from client.example.org ([127.0.0.1])" in trace[1]
    assert b"by mx.example.test (postern) with ESMTP id " in b"\n".join(trace)
    assert b"for <demo@example.test>;" in b"\n".join(trace)
    # Maildir stores lines with LF; otherwise the bytes are the sender's,
    # dot-stuffing undone.
    assert rest == BODY.replace(b"\r\n", b"\n")
    # No stray file in tmp/, nothing left in the spool.
    assert os.listdir(os.path.join(server.maildir("demo@example.test"), "tmp")) == []
    assert os.listdir(os.path.join(server.data, "spool", "tmp")) == []


def test_swaks_delivers(server):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % server.ports["smtp"],
         "--from", "bob@example.org", "--to", "demo@example.test",
         "--header", "Subject: via swaks", "--body", "swaks body"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    msgs = server.wait_messages("demo@example.test", 1)
    assert b"Subject: via swaks" in msgs[0]
    assert b"\nswaks body" in msgs[0]


def test_raw_dot_stuffing_round_trip(server):
    d = Dialogue(server.ports["smtp"])
    assert d.reply()[0] == 220
    assert d.cmd("EHLO raw.example")[0] == 250
    assert d.cmd("MAIL FROM:<>")[0] == 250
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: dots\r\n\r\n..\r\n...\r\n.x\r\nend\r\n.\r\n")
    code, lines = d.reply()
    assert code == 250 and "queued as" in lines[0]
    assert d.cmd("QUIT")[0] == 221
    msg = server.wait_messages("demo@example.test", 1)[0]
    assert msg.startswith(b"Return-Path: <>\n")
    _, rest = split_trace(msg)
    assert rest == b"Subject: dots\n\n.\n..\nx\nend\n"


def test_unknown_user_refused_at_rcpt(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    assert d.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = d.cmd("RCPT TO:<nobody-here@example.test>")
    assert code == 550 and lines[0].startswith("550 5.1.1 ")
    # The session goes on: a good recipient is still accepted.
    assert d.cmd("RCPT TO:<DEMO@Example.Test>")[0] == 250
    assert d.cmd("QUIT")[0] == 221


def test_several_local_recipients_get_one_copy_each(make_server):
    s = make_server()
    for u in ("one", "two", "three"):
        s.add_user(u + "@example.test")
    s.start()
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"]) as c:
        refused = c.sendmail("a@example.org",
                             ["one@example.test", "two@example.test",
                              "three@example.test"], b"Subject: all\r\n\r\nhi\r\n")
    assert refused == {}
    for u in ("one", "two", "three"):
        msgs = s.wait_messages(u + "@example.test", 1)
        assert len(msgs) == 1 and msgs[0].endswith(b"\n\nhi\n")


def test_relay_to_remote_domain_refused(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    d.cmd("MAIL FROM:<a@example.org>")
    code, lines = d.cmd("RCPT TO:<someone@elsewhere.example>")
    assert code == 554 and "5.7.1" in lines[0]


def test_command_replies(server):
    d = Dialogue(server.ports["smtp"])
    code, lines = d.reply()
    assert code == 220 and "mx.example.test" in lines[0]
    assert d.cmd("MAIL FROM:<a@example.org>")[1][0].startswith("503 5.5.1")
    code, lines = d.cmd("EHLO raw.example")
    assert code == 250
    assert "250-PIPELINING" in lines and "250-8BITMIME" in lines
    assert "ENHANCEDSTATUSCODES" in lines[-1]
    assert any(l.startswith("250-SIZE ") for l in lines)
    assert d.cmd("NOOP")[1][0].startswith("250 2.0.0")
    assert d.cmd("RCPT TO:<demo@example.test>")[1][0].startswith("503 5.5.1")
    assert d.cmd("DATA")[1][0].startswith("503 5.5.1")
    assert d.cmd("FROBNICATE")[1][0].startswith("500 5.5.2")
    assert d.cmd("MAIL FROM:<bad address>")[0] == 501
    assert d.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert d.cmd("MAIL FROM:<a@example.org>")[1][0].startswith("503 5.5.1")
    assert d.cmd("DATA")[1][0].startswith("503 5.5.1")
    assert d.cmd("RSET")[1][0].startswith("250 2.0.0")
    assert d.cmd("VRFY demo")[0] == 252
    assert d.cmd("HELP")[0] == 214
    assert d.cmd("QUIT")[1][0].startswith("221 2.0.0")
    assert d.closed()


def test_line_too_long_and_session_continues(server):
    d = Dialogue(server.ports["smtp"])
    d.reply()
    d.send("NOOP " + "x" * 2000 + "\r\n")
    assert d.reply()[1][0].startswith("500 5.5.2")
    assert d.cmd("NOOP")[0] == 250


def test_bare_lf_in_data_is_refused(server):
    d = after_rcpt(server)
    assert d.cmd("DATA")[0] == 354
    # "\n.\n" must not end the data (SMTP smuggling); the real end does.
    d.send(b"Subject: smuggle\r\n\r\nhi\n.\nMAIL FROM:<x@y>\r\n.\r\n")
    code, lines = d.reply()
    assert code == 550 and "5.5.2" in lines[0]
    assert d.cmd("NOOP")[0] == 250
    assert server.messages("demo@example.test") == []


def test_pipelined_transaction_in_one_write(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    d.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
           b"RCPT TO:<ghost@example.test>\r\nDATA\r\n")
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    assert d.reply()[0] == 550
    assert d.reply()[0] == 354
    d.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    assert d.reply()[0] == 221
    assert len(server.wait_messages("demo@example.test", 1)) == 1


def test_starttls_then_ehlo(server):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"]) as c:
        c.ehlo("tls.example")
        assert c.has_extn("starttls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        c.ehlo("tls.example")
        assert not c.has_extn("starttls")
        c.sendmail("a@example.org", ["demo@example.test"],
                   b"Subject: tls\r\n\r\nsecret\r\n")
    msg = server.wait_messages("demo@example.test", 1)[0]
    assert b"with ESMTPS" in msg and b"cipher" in msg


def test_implicit_tls_submissions_port(server):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["submissions"],
                          context=ctx) as c:
        c.ehlo("tls.example")
        c.sendmail("a@example.org", ["demo@example.test"],
                   b"Subject: implicit\r\n\r\nbody\r\n")
    assert b"Subject: implicit" in server.wait_messages("demo@example.test", 1)[0]


def test_abrupt_disconnect_during_data_delivers_nothing(server):
    d = after_rcpt(server)
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: cut\r\n\r\nhalf a mess")
    d.close()
    # The spool file is discarded once the session is gone.
    wait_for(lambda: server.spool_tmp() == [], 10, "the spool to empty")
    assert server.messages("demo@example.test") == []


def test_transactions_without_data_leave_no_spool_file(server):
    # The spool file is asked for at the first accepted RCPT, ahead of
    # DATA: a transaction reset after RCPT, a new one, and a session that
    # quits right after RCPT (an address check) all give it back.
    d = after_rcpt(server)
    assert d.cmd("RSET")[0] == 250
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: after a reset\r\n\r\nbody\r\n.\r\n")
    assert d.reply()[0] == 250
    d.cmd("MAIL FROM:<a@example.org>")
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert d.cmd("QUIT")[0] == 221
    d.close()
    for _ in range(5):
        probe = Dialogue(server.ports["smtp"])
        probe.send(b"EHLO probe.example\r\nMAIL FROM:<>\r\n"
                   b"RCPT TO:<demo@example.test>\r\nQUIT\r\n")
        probe.close()
    wait_for(lambda: server.spool_tmp() == [], 10, "the spool to empty")
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and b"Subject: after a reset" in msgs[0]
    assert "event=flush-failed" not in server.read_log()


def test_queue_restart_between_rcpt_and_data(server):
    # A spool file asked for ahead of DATA belonged to the queue process
    # that died; DATA gets one from its successor.
    d = after_rcpt(server)
    old = server.role_pids("queue")
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: server.role_pids("queue") and
             server.role_pids("queue") != old, 15, "a new queue role")
    time.sleep(0.3)
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: across a restart\r\n\r\nbody\r\n.\r\n")
    assert d.reply()[0] == 250
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and b"Subject: across a restart" in msgs[0]


def stopped_queue_after_rcpt(server):
    """A dialogue up to an accepted RCPT whose spool file cannot have come
    yet: the queue role is stopped before the RCPT asks for it."""
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    d.cmd("MAIL FROM:<a@example.org>")
    queue = server.role_pids("queue")[0]
    os.kill(queue, signal.SIGSTOP)
    try:
        assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
        # DATA is answered while the queue is still stopped.
        assert d.cmd("DATA")[0] == 354
        d.send(b"Subject: before the file\r\n\r\nbody\r\n.\r\n")
    except BaseException:
        os.kill(queue, signal.SIGCONT)
        raise
    return d, queue


def test_data_is_answered_before_the_spool_file_comes(server):
    d, queue = stopped_queue_after_rcpt(server)
    time.sleep(0.3)
    os.kill(queue, signal.SIGCONT)
    code, lines = d.reply()
    assert code == 250, lines
    assert d.cmd("QUIT")[0] == 221
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and msgs[0].endswith(b"\n\nbody\n")


def test_queue_lost_after_an_early_354_answers_451_after_the_message(server):
    # The message already follows the 354: it must be read to its end
    # and refused, not taken for commands.
    d, queue = stopped_queue_after_rcpt(server)
    os.kill(queue, signal.SIGKILL)
    os.kill(queue, signal.SIGCONT)
    code, lines = d.reply()
    assert code == 451, lines
    wait_for(lambda: server.role_pids("queue") and
             server.role_pids("queue") != [queue], 15, "a new queue role")

    # Until the worker has the new role's channel, DATA is answered 451
    # "Queue unavailable"; then the same session delivers.
    def again():
        assert d.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
        code, lines = d.cmd("DATA")
        if code == 451:
            assert "Queue unavailable" in lines[0], lines
            assert d.cmd("RSET")[0] == 250
            return False
        assert code == 354, lines
        d.send("Subject: again\r\n\r\nwhole\r\n.\r\n")
        assert d.reply()[0] == 250
        return True
    wait_for(again, 15, "a delivery through the new queue role")
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and b"Subject: again" in msgs[0]


def test_inetd_mode_through_a_pipe(make_server):
    s = make_server()
    s.add_user("demo@example.test")
    from conftest import ASAN_OPTIONS, POSTERND
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", ASAN_OPTIONS)
    p = subprocess.Popen([POSTERND, "--config", s.conf, "--inetd", "smtp"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)

    def reply():
        lines = [p.stdout.readline().decode()]
        while lines[-1][3:4] == "-":
            lines.append(p.stdout.readline().decode())
        return lines[-1]

    def cmd(text):
        p.stdin.write(text)
        p.stdin.flush()
        return reply()
    try:
        assert reply().startswith("220 mx.example.test")
        assert cmd(b"EHLO pipe.example\r\n").startswith("250 ")
        assert cmd(b"MAIL FROM:<a@example.org>\r\n").startswith("250")
        assert cmd(b"RCPT TO:<demo@example.test>\r\n").startswith("250")
        assert cmd(b"DATA\r\n").startswith("354")
        assert cmd(b"Subject: inetd\r\n\r\nvia a pipe\r\n.\r\n").startswith(
            "250 2.0.0 Ok: queued as")
        assert cmd(b"QUIT\r\n").startswith("221")
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    msg = s.wait_messages("demo@example.test", 1)[0]
    assert msg.endswith(b"\n\nvia a pipe\n")
    assert b"from pipe.example ([local])" in msg


def test_pipelining_past_data_is_refused(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    # Message text sent with DATA, before the 354: not SMTP.
    d.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
           b"DATA\r\nSubject: eager\r\n\r\nbody\r\n.\r\n")
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    code, lines = d.reply()
    assert code == 554 and "synchronization" in lines[0]
    assert d.closed()
    assert server.messages("demo@example.test") == []


def test_helo_client_may_not_pipeline(server):
    d = Dialogue(server.ports["smtp"])
    d.reply()
    assert d.cmd("HELO old.example")[0] == 250
    d.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n")
    # MAIL is answered; the RCPT sent without waiting ends the session.
    assert d.reply()[0] == 250
    assert d.reply()[0] == 554
    assert d.closed()


def test_early_talker_is_refused(make_server):
    s = make_server(extra_config="smtp_greeting_delay 1s\n")
    s.add_user("demo@example.test")
    s.start(wait=False)
    from conftest import wait_for
    import socket

    def connected():
        try:
            return socket.create_connection(("127.0.0.1", s.ports["smtp"]), timeout=5)
        except OSError:
            return None
    sock = wait_for(connected, 15, "the listener")
    sock.sendall(b"EHLO eager.example\r\n")
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"554 5.5.0"), data
    sock.close()
    # A patient client is served after the delay.
    d = Dialogue(s.ports["smtp"])
    assert d.reply()[0] == 220
    assert d.cmd("EHLO patient.example")[0] == 250


def test_help_verb_vrfy_expn_defaults(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    code, lines = d.cmd("HELP")
    assert code == 214 and len(lines) > 1
    code, lines = d.cmd("HELP mail")
    assert code == 214 and "MAIL FROM:<sender>" in lines[0]
    assert d.cmd("HELP nonsense")[0] == 504
    assert d.cmd("VERB")[1][0].startswith("502 5.5.1")
    # Untrusted clients learn nothing about local users.
    assert d.cmd("VRFY demo@example.test")[0] == 252
    assert d.cmd("EXPN staff")[1][0].startswith("502 5.5.1")


def test_too_many_recipients(make_server):
    s = make_server(extra_config="smtp_max_recipients 3\nsmtp_max_errors 5\n")
    s.add_user("demo@example.test")
    s.start()
    d = Dialogue.greeted(s.ports["smtp"], "flood.example")
    d.cmd("MAIL FROM:<a@example.org>")
    for _ in range(3):
        assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    # RFC 5321 4.5.3.1.8: 452 for each one past the limit...
    for _ in range(4):
        assert d.cmd("RCPT TO:<demo@example.test>")[1][0].startswith("452 4.5.3")
    # ...and a client that keeps flooding is cut off.
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 452
    code, lines = d.reply()
    assert code == 421 and "Too many errors" in lines[0]
    assert d.closed()


def test_ten_thousand_recipients_in_one_write(server):
    d = Dialogue.greeted(server.ports["smtp"], "flood.example", timeout=30)
    d.cmd("MAIL FROM:<a@example.org>")
    d.send(b"RCPT TO:<demo@example.test>\r\n" * 10000)
    codes = []
    try:
        while True:
            codes.append(d.reply()[0])
    except (EOFError, ConnectionResetError, OSError):
        pass
    assert codes[:100] == [250] * 100
    assert 452 in codes and codes[-1] == 421
    assert len(codes) < 200
    # The server goes on serving others.
    d2 = Dialogue(server.ports["smtp"])
    assert d2.reply()[0] == 220


def test_sessions_per_address_limit_across_workers(make_server):
    s = make_server(extra_config="smtp_max_sessions_per_ip 2\n")
    s.add_user("demo@example.test")
    s.start()
    # wait_ready's probe session may still be counted for a moment.
    time.sleep(0.3)
    a = Dialogue(s.ports["smtp"])
    assert a.reply()[0] == 220
    b = Dialogue(s.ports["smtp"])
    assert b.reply()[0] == 220
    # Two workers serve this server; the third session is refused
    # whichever of them accepts it.
    for _ in range(4):
        c = Dialogue(s.ports["smtp"])
        code, lines = c.reply()
        assert code == 421 and "from your address" in lines[0]
        assert c.closed()
    a.cmd("QUIT")
    a.close()

    def admitted():
        d = Dialogue(s.ports["smtp"])
        code = d.reply()[0]
        d.close()
        return code == 220
    wait_for(admitted, 10, "a session slot to free up")
    assert b.cmd("NOOP")[0] == 250


def bdat_session(server):
    d = Dialogue(server.ports["smtp"])
    d.reply()
    code, lines = d.cmd("EHLO chunk.example")
    assert "250-CHUNKING" in lines
    return d


def test_bdat_chunks_pipelined_with_binary_looking_content(server):
    d = bdat_session(server)
    # The chunks hold what would end a DATA transfer; in BDAT it is text.
    c1 = b"Subject: chunks\r\n\r\nline one\r\n.\r\n"
    c2 = b"..two dots\r\n\xc3\xa9t\xc3\xa9\r\n"
    c3 = b"last line\r\n"
    d.send(b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
           b"RCPT TO:<demo@example.test>\r\n"
           + b"BDAT %d\r\n" % len(c1) + c1
           + b"BDAT %d\r\n" % len(c2) + c2
           + b"BDAT %d LAST\r\n" % len(c3) + c3 + b"NOOP\r\n")
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    assert d.reply()[0] == 250
    code, lines = d.reply()
    assert code == 250 and "queued as" in lines[0]
    assert d.reply()[0] == 250  # the NOOP after the last chunk
    msg = server.wait_messages("demo@example.test", 1)[0]
    assert msg.endswith(b"Subject: chunks\n\nline one\n.\n..two dots\n"
                        b"\xc3\xa9t\xc3\xa9\nlast line\n")


def test_bdat_zero_last_and_data_after_bdat(server):
    d = bdat_session(server)
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    body = b"Subject: z\r\n\r\nx\r\n"
    d.send(b"BDAT %d\r\n" % len(body) + body)
    assert d.reply()[0] == 250
    assert d.cmd("DATA")[1][0].startswith("503 5.5.1")
    assert d.cmd("BDAT 0 LAST")[0] == 250
    assert server.wait_messages("demo@example.test", 1)[0].endswith(b"\n\nx\n")


def test_bdat_without_recipients_still_reads_the_chunk(server):
    d = bdat_session(server)
    d.cmd("MAIL FROM:<a@example.org>")
    # The chunk text looks like commands; it must be skipped, not run.
    chunk = b"RSET\r\nQUIT\r\n"
    d.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    assert d.reply()[1][0].startswith("503 5.5.1")
    assert d.cmd("NOOP")[0] == 250


def test_bdat_bare_lf_refused(server):
    d = bdat_session(server)
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    chunk = b"Subject: lf\n\nbare\n"
    d.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    code, lines = d.reply()
    assert code == 550 and "5.5.2" in lines[0]
    assert server.messages("demo@example.test") == []


def test_maildir_readers_see_the_messages(server):
    import mailbox
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"]) as c:
        c.sendmail("alice@example.org", ["demo@example.test"], BODY)
    server.wait_messages("demo@example.test", 1)
    box = mailbox.Maildir(server.maildir("demo@example.test"), create=False)
    msgs = list(box)
    assert len(msgs) == 1
    m = msgs[0]
    assert m["Subject"] == "hello" and m["From"] == "Alice <alice@example.org>"
    assert m.get_subdir() == "new" and m.get_flags() == ""
    assert m.get_payload().startswith("first line\n.a line")
