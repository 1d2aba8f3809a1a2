"""The daemon's life: configuration errors, reload, role restarts, stop,
and durability across kill -9."""

import os
import signal
import smtplib
import subprocess
import time

from conftest import POSTERN, POSTERND, Dialogue, wait_for


def send(server, subject, to="demo@example.test"):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
        c.sendmail("a@example.org", [to],
                   ("Subject: %s\r\n\r\nbody of %s\r\n" % (subject, subject)).encode())


def test_bad_config_rejected_with_file_and_line(make_server):
    s = make_server()
    s.write_config(s.config_text() + "smtp_max_recipients lots\nno_such_option 1\n")
    n = len(s.config_text().splitlines())
    r = subprocess.run([POSTERND, "--config", s.conf, "--foreground"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "%s:%d:" % (s.conf, n + 1) in r.stderr
    assert "%s:%d:" % (s.conf, n + 2) in r.stderr
    r = subprocess.run([POSTERN, "check", s.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "%s:%d:" % (s.conf, n + 2) in r.stderr and "no_such_option" in r.stderr


def test_check_accepts_good_config(make_server):
    s = make_server()
    r = subprocess.run([POSTERN, "check", s.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_sighup_with_broken_config_keeps_serving(server):
    good = server.config_text()
    server.write_config(good + "listen smtp nowhere\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "result=refused" in server.read_log(), 10, "reload refusal")
    send(server, "after bad reload")
    assert len(server.wait_messages("demo@example.test", 1)) == 1
    # A good new configuration is taken: the greeting shows the new name.
    server.write_config(good.replace("hostname mx.example.test",
                                     "hostname renamed.example.test"))
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=reload result=ok" in server.read_log(), 10, "reload")

    def greeting():
        d = Dialogue(server.ports["smtp"])
        line = d.reply()[1][0]
        d.close()
        return "renamed.example.test" in line
    wait_for(greeting, 10, "the new hostname in the greeting")


def test_roles_are_named_in_ps(server):
    # A role names itself just after its exec: one still starting (the
    # second smtp worker, say) may be "exe" for a moment.
    def named(role):
        pids = server.role_pids(role)
        names = set()
        try:
            for pid in pids:
                with open("/proc/%d/comm" % pid) as f:
                    names.add(f.read().strip())
        except OSError:
            return False
        return pids and names == {"postern-" + role}
    for role in ("smtp", "queue", "auth"):
        wait_for(lambda: named(role), 10, "the %s role's name" % role)


def test_killed_roles_are_restarted(server):
    for role in ("smtp", "queue", "auth"):
        pids = server.role_pids(role)
        assert pids, role
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.role_pids(role) and
                 not set(server.role_pids(role)) & set(pids),
                 15, "%s to be restarted" % role)
    # Peers are rewired: a message still goes through every role.
    def delivered():
        try:
            send(server, "after restarts")
            return True
        except (smtplib.SMTPException, OSError):
            return False
    wait_for(delivered, 20, "a delivery after the restarts")
    assert len(server.wait_messages("demo@example.test", 1)) == 1


def test_sigterm_lets_a_transaction_finish(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    assert d.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert d.cmd("RCPT TO:<demo@example.test>")[0] == 250
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: late\r\n\r\nfinished during shutdown\r\n.\r\n")
    assert d.reply()[0] == 250
    assert server.proc.wait(timeout=20) == 0
    server.proc = None
    server.log.close()
    assert len(server.messages("demo@example.test")) == 1


def test_kill_after_each_250_loses_nothing(make_server):
    s = make_server()
    s.add_user("demo@example.test")
    acked = []
    for i in range(12):
        s.start()
        d = Dialogue.greeted(s.ports["smtp"], "crash.example")
        d.cmd("MAIL FROM:<a@example.org>")
        d.cmd("RCPT TO:<demo@example.test>")
        assert d.cmd("DATA")[0] == 354
        tag = "message-%02d" % i
        d.send(("Subject: %s\r\n\r\n%s\r\n.\r\n" % (tag, "x" * (i * 700))).encode())
        code, _ = d.reply()
        s.kill()  # SIGKILL right after the 250
        if code == 250:
            acked.append(tag)
        d.close()
    s.start()
    msgs = s.messages("demo@example.test")
    subjects = [m.split(b"Subject: ", 1)[1].split(b"\n", 1)[0].decode() for m in msgs]
    assert sorted(subjects) == sorted(acked)  # every acked one, none twice
    for m, tag in zip(msgs, subjects):
        i = int(tag.split("-")[1])
        assert m.endswith(("\n\n%s\n" % ("x" * (i * 700))).encode())
    assert len(acked) == 12


def test_queue_restart_during_data_answers_451(server):
    d = Dialogue.greeted(server.ports["smtp"], "raw.example")
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: interrupted\r\n\r\nfirst half\r\n")
    old = server.role_pids("queue")
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: server.role_pids("queue") and
             server.role_pids("queue") != old, 15, "a new queue role")
    time.sleep(0.3)
    d.send(b"second half\r\n.\r\n")
    code, lines = d.reply()
    assert code == 451, lines
    # The session and the server go on; nothing half-made was delivered.
    assert d.transaction("retried") == 250
    msgs = server.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and b"Subject: retried" in msgs[0]


def cert_of(port):
    import ssl
    import socket as so
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with so.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as t:
            return t.getpeercert(binary_form=True)


def test_sighup_picks_up_a_renewed_certificate(server):
    """A renewed certificate is served after SIGHUP, while a session that
    was open at the reload finishes normally."""
    old = cert_of(server.ports["submissions"])
    d = Dialogue.greeted(server.ports["smtp"], "before.example")
    d.cmd("MAIL FROM:<a@example.org>")
    d.cmd("RCPT TO:<demo@example.test>")
    tls = os.path.join(server.data, "tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
         "/CN=renewed.example.test", "-keyout", os.path.join(tls, "key.pem"),
         "-out", os.path.join(tls, "cert.pem")],
        check=True, capture_output=True, timeout=60)
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=reload result=ok" in server.read_log(), 10, "reload")
    wait_for(lambda: cert_of(server.ports["submissions"]) != old, 15,
             "the renewed certificate")
    # The session from before the reload is still served to the end.
    assert d.cmd("DATA")[0] == 354
    d.send(b"Subject: across the reload\r\n\r\nx\r\n.\r\n")
    assert d.reply()[0] == 250
    # Its worker is retiring: it says so once the transaction is done.
    code, lines = d.reply()
    assert code == 421 and "4.3.2" in lines[0]
    assert len(server.wait_messages("demo@example.test", 1)) == 1
