"""The postern administration tool as an administrator uses it."""

import os
import stat
import subprocess

from conftest import POSTERN


def test_user_add_list_passwd_del(make_server):
    s = make_server()
    users = os.path.join(s.dir, "users")
    s.add_user("Alice@Example.Test", quota="500M")
    s.add_user("bob@example.test")
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    text = open(users).read()
    assert text.startswith("alice@example.test:$y$")
    # The hash is stored, never the password.
    assert "secret-pw-1" not in text
    out = s.postern("user", "list").stdout
    assert "alice@example.test" in out and "bob@example.test" in out
    assert "$y$" not in out
    # An account is added once.
    r = s.postern("user", "add", "alice@example.test", "--password-stdin",
                  stdin="x\n", check=False)
    assert r.returncode == 1 and "alice@example.test" in r.stderr
    # Only local domains take accounts.
    r = s.postern("user", "add", "eve@elsewhere.example", "--password-stdin",
                  stdin="x\n", check=False)
    assert r.returncode == 1
    before = open(users).read().splitlines()[1]
    s.postern("user", "passwd", "bob@example.test", "--password-stdin",
              stdin="another-pw\n")
    after = open(users).read().splitlines()[1]
    assert after.startswith("bob@example.test:$y$") and after != before
    s.postern("user", "del", "alice@example.test")
    assert "alice@example.test" not in s.postern("user", "list").stdout
    r = s.postern("user", "del", "alice@example.test", check=False)
    assert r.returncode == 1
    # No temporary file is left behind.
    assert sorted(f for f in os.listdir(s.dir) if f.startswith("users")) in (
        ["users"], ["users", "users.lock"])


def test_user_password_never_from_the_command_line(make_server):
    s = make_server()
    r = s.postern("user", "add", "carol@example.test", "--password", "pw",
                  check=False)
    assert r.returncode == 2
    r = s.postern("user", "add", "carol@example.test", "--password-stdin",
                  stdin="\n", check=False)
    assert r.returncode == 1  # an empty password is refused


def test_account_added_while_running_is_known_at_once(server):
    import smtplib
    server.add_user("late@example.test")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"]) as c:
        c.sendmail("a@example.org", ["late@example.test"], b"Subject: hi\r\n\r\nx\r\n")
    assert len(server.wait_messages("late@example.test", 1)) == 1


def test_version_and_help():
    r = subprocess.run([POSTERN, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("postern ")
    r = subprocess.run([POSTERN, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "user add" in r.stdout
    r = subprocess.run([POSTERN, "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
