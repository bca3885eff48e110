"""The sign-up page (``GET /signup``) and its web component (``/signup/applytry-signup.js``).

The component is the form a website would otherwise write against the spec: TypeScript on the
client that openapi-typescript and openapi-fetch make of ``openapi.yaml``, bundled by esbuild
(``build.mjs``; sources in ``src/`` and ``client/``). The bundle is committed and ships in the
wheel, like Swagger UI's assets, so serving it needs no Node.js; a contract test rebuilds it and
fails when it no longer matches its sources.

The page is the component on the service's own origin. Another website embeds the component
with one script tag: the bundle is sent with ``Access-Control-Allow-Origin: *``, which a
cross-origin module script needs (it is public and carries no credentials); the API calls
themselves are still allowed only from ``APPLYTRY_CORS_ORIGINS``. ``APPLYTRY_SIGNUP_PAGE=off``
removes both routes, which then answer 404 like any path the service does not have.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from applytry import messages

PAGE_PATH = "/signup"
BUNDLE_PATH = "/signup/applytry-signup.js"
TITLES = {messages.ENGLISH: "Free trial", messages.CHINESE: "免费试用"}
NO_SCRIPT = {
    messages.ENGLISH: "The sign-up form needs JavaScript. Turn it on and load the page again.",
    messages.CHINESE: "申请表单需要 JavaScript，请启用后重新加载页面。",
}

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def page_headers(template: str) -> dict[str, str]:
    """The page runs the bundle from its own origin, calls the API there, solves challenges in
    a worker started from a blob, and has its one inline style block; nothing else. The
    component's own styles are a constructed sheet, which style-src does not govern."""
    digest = hashlib.sha256(_STYLE.search(template).group(1).encode()).digest()
    policy = (
        "default-src 'none'; script-src 'self'; connect-src 'self'; worker-src blob:; "
        f"style-src 'sha256-{base64.b64encode(digest).decode()}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "Vary": "Accept-Language",
    }


def _read(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


class SignupPage:
    """The page in both languages and the bundle, read once at start-up."""

    def __init__(self):
        template = _read("page.html").decode()
        self.headers = page_headers(template)
        self.pages = {
            language: template.replace("{lang}", "zh-CN" if language == messages.CHINESE else "en")
            .replace("{title}", html.escape(title))
            .replace("{noscript}", html.escape(NO_SCRIPT[language]))
            .encode()
            for language, title in TITLES.items()
        }
        self.bundle = _read("applytry-signup.js")
        self.etag = '"' + hashlib.sha256(self.bundle).hexdigest()[:32] + '"'

    async def page(self, request: Request) -> Response:
        language = messages.negotiate(request.headers.get("accept-language"))
        return Response(
            self.pages[language], media_type="text/html; charset=utf-8", headers=self.headers
        )

    async def component(self, request: Request) -> Response:
        headers = {
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "public, max-age=300",
            "ETag": self.etag,
            "X-Content-Type-Options": "nosniff",
        }
        wanted = request.headers.get("if-none-match", "")
        if wanted.strip() == "*" or self.etag in wanted:
            return Response(status_code=304, headers=headers)
        return Response(self.bundle, media_type="text/javascript; charset=utf-8", headers=headers)


def publish(app, enabled: bool) -> None:
    if not enabled:
        return
    signup = SignupPage()
    app.add_url_rule(PAGE_PATH, "signup_page", signup.page, methods=["GET"])
    app.add_url_rule(BUNDLE_PATH, "signup_component", signup.component, methods=["GET"])
