"""Test-only moto launcher: moto's ThreadedMotoServer plus a side control port.

Started by `tests/src/moto.rs` with the moto venv's python (moto pinned by
`scripts/install-tools`). Both servers bind 127.0.0.1 on free ports; the first
stdout line is `{"moto": PORT, "control": PORT}`. The process exits when its
stdin closes, so a test binary that dies never leaves a server behind.

Control endpoint (moto has no clock in server mode, so keys are made old by
editing moto's own backend objects; this relies on moto internals, which is
why the moto version is pinned):

  POST /backdate {"account_id", "access_key_id", "days", "last_used_days_ago"?}
      moves the key's create_date `days` days into the past and, when
      `last_used_days_ago` is given, sets its last use to that many days ago.

  GET /sent-mail?account_id=...&region=...
      the SES mail sent from that account and region, as
      `[{"id", "source", "subject", "body", "destinations"}]`. moto's own
      `/moto-api/data.json` answers 500 once any Lambda function exists (it
      reads every model attribute, and a function's `docker_client` raises
      without a docker engine), and it does not say which account sent a mail.
"""

import datetime
import email
import email.policy
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from moto.iam.models import AccessKeyLastUsed, iam_backends
from moto.secretsmanager.models import ReplicaSecret, SecretsManagerBackend
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.models import SecurityHubBackend
from moto.securityhub.responses import SecurityHubResponse
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends


# moto 5.2.5 diverges from Secrets Manager where the fault tests look: a
# PutSecretValue retried with the same ClientRequestToken and the same value
# (the SDK retrying a call whose answer was lost) must be ignored, as AWS
# documents; moto instead writes the version again when it holds AWSPENDING,
# which drops the AWSCURRENT label AWS put on a secret's first version, and
# then fails every later UpdateSecretVersionStage with a 500 (IndexError).
_check_existing = SecretsManagerBackend._check_with_existing_secrets_and_versions


def _check_existing_idempotent(self, secret_name, client_request_token, secret_string, secret_binary, on_create=False):
    existing = self.secrets[secret_name] if secret_name in self.secrets.keys() else None
    if existing is not None and client_request_token and not isinstance(existing, ReplicaSecret):
        version = existing.versions.get(client_request_token)
        if version and version.get("secret_string") == secret_string and version.get("secret_binary") == secret_binary:
            return existing
    return _check_existing(self, secret_name, client_request_token, secret_string, secret_binary, on_create)


SecretsManagerBackend._check_with_existing_secrets_and_versions = _check_existing_idempotent


def parse_raw(m):
    """A raw MIME mail in the simple mail's shape (the HTML part as the
    body, else the text part), plus its attachments as text."""
    msg = email.message_from_string(m.raw_data, policy=email.policy.default)
    body = msg.get_body(preferencelist=("html", "plain"))
    attachments = [
        {"filename": a.get_filename(), "content": a.get_content()} for a in msg.iter_attachments()
    ]
    return {
        "id": m.id,
        "source": m.source,
        "subject": str(msg["subject"] or ""),
        "body": body.get_content() if body is not None else "",
        "destinations": {"ToAddresses": [str(msg["to"])] if msg["to"] else list(m.destinations)},
        "attachments": attachments,
    }


# moto 5.2.5 has no BatchUpdateFindings, which rekey uses to resolve the
# findings it settled (a finding provider cannot change the workflow status
# through BatchImportFindings once a finding exists). This adds it for the
# workflow status only, and, as Security Hub does, a finding whose compliance
# goes from PASSED back to FAILED has its workflow reset to NEW.
def _batch_update_findings(self):
    params = json.loads(self.body or "{}")
    status = (params.get("Workflow") or {}).get("Status")
    processed, unprocessed = [], []
    for ident in params.get("FindingIdentifiers", []):
        finding = next((f for f in self.securityhub_backend.findings if f.id == ident.get("Id")), None)
        if finding is None:
            unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "no such finding"})
            continue
        if status:
            finding.data["Workflow"] = {"Status": status}
            finding.data["WorkflowState"] = status
        processed.append(ident)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


SecurityHubResponse.batch_update_findings = _batch_update_findings
securityhub_urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch

_batch_import = SecurityHubBackend.batch_import_findings


def _batch_import_reopening(self, findings):
    for data in findings:
        old = next((f for f in self.findings if f.id == data.get("Id")), None)
        was = ((old.data.get("Compliance") or {}).get("Status")) if old else None
        now = (data.get("Compliance") or {}).get("Status")
        if old is not None and was == "PASSED" and now in ("FAILED", "WARNING", "NOT_AVAILABLE"):
            old.data["Workflow"] = {"Status": "NEW"}
    return _batch_import(self, findings)


SecurityHubBackend.batch_import_findings = _batch_import_reopening


def find_key(account_id, access_key_id):
    for partition in ("aws", "global"):
        try:
            backend = iam_backends[account_id][partition]
        except KeyError:
            continue
        key = backend.access_keys.get(access_key_id)
        if key is not None:
            return key
    return None


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output quiet
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/sent-mail":
            return self.reply(404, {"error": f"unknown path `{url.path}`"})
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            backend = ses_backends[query["account_id"]][query.get("region", "us-east-1")]
        except KeyError as e:
            return self.reply(400, {"error": f"missing or unknown {e}"})
        mail = []
        for m in backend.sent_messages:
            if hasattr(m, "subject"):  # simple mail
                mail.append({"id": m.id, "source": m.source, "subject": m.subject, "body": m.body,
                             "destinations": m.destinations, "attachments": []})
            elif hasattr(m, "raw_data"):  # raw MIME mail (digests with an attachment)
                mail.append(parse_raw(m))
        return self.reply(200, mail)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as e:
            return self.reply(400, {"error": f"bad json: {e}"})
        if self.path != "/backdate":
            return self.reply(404, {"error": f"unknown path `{self.path}`"})
        key = find_key(req["account_id"], req["access_key_id"])
        if key is None:
            return self.reply(404, {"error": f"no key `{req['access_key_id']}` in `{req['account_id']}`"})
        key.create_date = key.create_date - datetime.timedelta(days=float(req["days"]))
        if req.get("last_used_days_ago") is not None:
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            when = now - datetime.timedelta(days=float(req["last_used_days_ago"]))
            key.last_used = AccessKeyLastUsed(timestamp=when, service="iam", region="us-east-1")
        return self.reply(200, {"create_date": key.create_date.isoformat()})


def main():
    # Werkzeug logs every request to stderr; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, moto_port = server.get_host_and_port()
    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(json.dumps({"moto": moto_port, "control": control.server_address[1]}), flush=True)
    # Block until the parent closes our stdin (normally: the test binary exited).
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
