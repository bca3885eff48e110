"""The smtp email backend against a real SMTP server on 127.0.0.1 (aiosmtpd): plain, STARTTLS
and implicit TLS, with and without login, and failures that leave the tenant's mail queued."""

from __future__ import annotations

import email
import email.policy
import ssl

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from applytry.db.models import Job, Tenant
from applytry.messages import MAIL_QUEUED, RETURN_MESSAGES
from conftest import apply_tenant, generate, load_access_codes

PHONE, E164 = "13800138000", "+8613800138000"
USER, PASSWORD = "applytry", "mail-password-0123"


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        ok = (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        return AuthResult(success=ok)
    return AuthResult(success=False, handled=False)


class EphemeralController(Controller):
    """aiosmtpd's threaded server on a port the kernel picks: ``port`` is the one it bound.
    Asked for port 0 itself, it would check that it started by connecting to port 0."""

    def _create_server(self):
        async def bind():
            server = await Controller._create_server(self)
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def _server_context(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def smtp_server(authority, monkeypatch):
    """Starts an SMTP server; ``security`` is none, starttls or tls; returns (port, inbox)."""
    ca, ca_file = authority
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the client trusts our test CA
    started = []

    def start(security: str = "starttls", login: bool = True):
        inbox = Inbox()
        options = {"hostname": "127.0.0.1", "port": 0}
        if login:
            options.update(authenticator=_authenticate, auth_required=True)
        if security == "starttls":
            options.update(tls_context=_server_context(ca), require_starttls=True)
        elif security == "tls":
            # aiosmtpd only counts STARTTLS as TLS when deciding to offer AUTH; this
            # connection is TLS from its first byte.
            options.update(ssl_context=_server_context(ca), auth_require_tls=False)
        else:
            options.update(auth_require_tls=False)
        controller = EphemeralController(inbox, **options)
        controller.start()
        started.append(controller)
        return controller.port, inbox

    yield start
    for controller in started:
        controller.stop()


def _smtp(port: int, security: str, login: bool = True) -> dict:
    settings = {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": security,
        "smtp_timeout_s": 5,
        "mail_from": "Trials <trials@example.com>",
    }
    if login:
        settings.update(smtp_username=USER, smtp_password=PASSWORD)
    return settings


def _apply(client, outbox) -> dict:
    load_access_codes("95555001")
    assert generate(client, PHONE).json()["retCode"] == "200"
    return apply_tenant(client, PHONE, outbox.code_for(E164)).json()


@pytest.mark.parametrize("security", ["starttls", "tls", "none"])
def test_the_account_mail_is_delivered_over_smtp(client_for, outbox, smtp_server, security):
    port, inbox = smtp_server(security, login=security != "none")
    client = client_for(**_smtp(port, security, login=security != "none"))

    reply = _apply(client, outbox)

    assert reply["returnMsg"] == RETURN_MESSAGES["000"][0], Job.get().last_error
    [message] = inbox.messages
    assert message["To"] == "trial@example.com"
    assert message["From"] == "Trials <trials@example.com>"
    assert message["Subject"] == "Your trial tenant is ready"
    body = message.get_content()
    assert Tenant.get().admin_account in body and "95555001" in body
    assert Job.get().status == "done"


def test_a_wrong_password_leaves_the_mail_queued_without_showing_the_password(
    client_for, outbox, smtp_server
):
    port, inbox = smtp_server("starttls")
    client = client_for(**{**_smtp(port, "starttls"), "smtp_password": "wrong-password-99"})

    reply = _apply(client, outbox)

    assert reply == {"returnCode": "000", "returnMsg": MAIL_QUEUED[0]}
    assert inbox.messages == []
    job = Job.get()
    assert job.status == "pending" and "smtp" in job.last_error
    assert "wrong-password-99" not in job.last_error


def test_an_untrusted_certificate_is_refused(client_for, outbox, smtp_server, monkeypatch):
    port, inbox = smtp_server("tls")
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's CAs do not know the test CA
    client = client_for(**_smtp(port, "tls"))

    assert _apply(client, outbox)["returnMsg"] == MAIL_QUEUED[0]
    assert inbox.messages == []
    assert Job.get().status == "pending"


def test_no_mail_server_listening_leaves_the_mail_queued(client_for, outbox, closed_port):
    client = client_for(**_smtp(closed_port, "starttls"))
    assert _apply(client, outbox)["returnMsg"] == MAIL_QUEUED[0]
    assert Tenant.select().count() == 1
