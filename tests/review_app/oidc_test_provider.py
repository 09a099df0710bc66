"""A small OpenID Connect provider on loopback, for testing `st.login` sign-in without a real identity provider.

It speaks the authorization-code flow the way Streamlit's Authlib client uses it: discovery document, an
authorize page where the "user" types who they are, a token endpoint that checks the client secret and the
code, and RS256-signed ID tokens verifiable through the JWKS endpoint. Identities are whatever the form says:
this is a test double for the provider, never something to deploy.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


class OidcTestProvider:
    def __init__(self, client_id: str = "msm-review", client_secret: str | None = None):
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_hex(16)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.codes: dict[str, dict] = {}
        self.unverified: set[str] = set()     # e-mail addresses this provider reports as not verified
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OidcTestProvider":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def metadata(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def id_token(self, email: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": f"sub-{email}", "aud": self.client_id, "iat": now, "exp": now + 300,
                  "email": email, "email_verified": email not in self.unverified, "name": email.split("@")[0]}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)


def _handler(provider: OidcTestProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:      # keep pytest output clean
            pass

        def _json(self, body: dict, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(provider.metadata())
            elif url.path == "/jwks":
                self._json({"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                if query.get("client_id") != provider.client_id:
                    self._json({"error": "unauthorized_client"}, 400)
                    return
                hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in query.items())
                page = (f'<html><body><h1>Test identity provider</h1><form action="/approve" method="get">{hidden}'
                        '<label>E-mail <input name="login_email" aria-label="E-mail"></label>'
                        '<button type="submit">Continue</button></form></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
            elif url.path == "/approve":
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {"email": query["login_email"], "nonce": query.get("nonce"),
                                        "redirect_uri": query["redirect_uri"]}
                target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            if urlparse(self.path).path != "/token":
                self._json({"error": "not_found"}, 404)
                return
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            if client_id != provider.client_id or client_secret != provider.client_secret:
                self._json({"error": "invalid_client"}, 401)
                return
            grant = provider.codes.pop(form.get("code", ""), None)   # a code works once
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                self._json({"error": "invalid_grant"}, 400)
                return
            self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                        "id_token": provider.id_token(grant["email"], grant["nonce"])})

    return Handler
