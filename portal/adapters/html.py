"""``kind = "html"``: scrape one page of a web application (docs/adapters.md).

The page is fetched with the adapter's pooled session (:mod:`.httpclient`),
parsed by the hardened HTML parser of :mod:`.xmlsafe` and read with XPath or
``css:`` selectors (:mod:`.extract`). Values are whitespace-normalised plain
text: markup from a back office never reaches a portal page.

Form login: when the system answers with its login page (``login.login_page``
matches), the adapter posts the service account's credentials to
``login.url``, keeps the session cookie in its session and asks again, once.
Many lookup threads can see the login page at the same moment; a lock and a
login *generation* counter make only the first of them log in and let the
others simply retry with the fresh cookie. The username and password come from
:mod:`portal.adapters.secrets` at each login (environment by default, the
app's encrypted store once it installs one), never from the document.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal
from urllib.parse import quote

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.adapters import httpclient, secrets, xmlsafe
from portal.adapters.base import (
    MAX_ANSWER_BYTES,
    Adapter,
    Extracted,
    LookupContext,
    render_key,
    url_address,
    url_target,
)
from portal.adapters.charsets import check_charset, is_text_charset
from portal.adapters.config import AdapterConfig
from portal.adapters.extract import XPathExtractor, compile_path, matches
from portal.adapters.templates import Template
from portal.errors import BackendNotFound, BackendProtocolError, BackendTimeout, ConfigError

log = logging.getLogger(__name__)


class LoginOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    username_field: str = Field(min_length=1)
    password_field: str = Field(min_length=1)
    credentials: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    login_page: str = Field(min_length=1)


class HtmlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Template = Field(pattern=r"^https?://")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Template] = Field(default_factory=dict)
    charset: str | None = None
    not_found: str | None = None
    max_bytes: int = Field(default=2_000_000, gt=0, le=MAX_ANSWER_BYTES)
    login: LoginOptions | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, value: str | None) -> str | None:
        return check_charset(value)


class HtmlAdapter(Adapter):
    kind = "html"
    Options = HtmlOptions
    options: HtmlOptions

    def __init__(self, config: AdapterConfig, options: HtmlOptions) -> None:
        super().__init__(config, options)
        source = config.id
        # The name the HTML parser reads the owner's charset by (libxml2 spells some differently).
        self._charset = _parser_charset(options.charset, source) if options.charset else None
        if options.login is not None:
            problem = secrets.binding_problem(self.boundary, options.login.credentials, config.id, config.owner)
            if problem is not None:
                raise ConfigError(source, "login.credentials", problem)
        self._extractor = XPathExtractor(config, allow_css=True)
        self._not_found = (
            compile_path(options.not_found, source=source, key="not_found", allow_css=True)
            if options.not_found
            else None
        )
        self._login_page = (
            compile_path(options.login.login_page, source=source, key="login.login_page", allow_css=True)
            if options.login
            else None
        )
        self._session = httpclient.make_session()
        self._login_lock = threading.Lock()
        self._login_generation = 0

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        generation = self._login_generation
        root = self._get_page(key, context)
        if self._is_login_page(root):
            self._login(generation, root, context)
            root = self._get_page(key, context)
            if self._is_login_page(root):
                raise BackendProtocolError("still on the login page after logging in")
        if self._not_found is not None and matches(self._not_found(root)):
            raise BackendNotFound("customer not known to this system")
        return self._extractor.extract(root)

    def address(self) -> tuple[str, int] | None:
        return url_address(self.options.url)

    def egress_targets(self) -> list[tuple[str, str, int]]:
        login = self.options.login
        return [url_target("url", self.options.url), *([url_target("login.url", login.url)] if login else [])]

    def close(self) -> None:
        self._session.close()

    # -- the page -------------------------------------------------------------

    def _get_page(self, key: str, context: LookupContext) -> etree._Element:
        opts = self.options
        url = render_key(opts.url, key, _quote)
        values = {name: render_key(template, key) for name, template in opts.params.items()}
        answer = httpclient.request(
            self._session,
            opts.method,
            url,
            context,
            max_bytes=opts.max_bytes,
            params=values if opts.method == "GET" else None,
            data=values if opts.method == "POST" else None,
        )
        context.record_raw(answer.content, self._encoding(answer))
        if not answer.ok:
            root = self._parse_error_page(answer)
            # A 404 page that says "unknown customer" is still a not_found, not an error.
            if (
                answer.status == 404
                and root is not None
                and self._not_found is not None
                and matches(self._not_found(root))
            ):
                raise BackendNotFound("customer not known to this system")
            if root is not None and self._is_login_page(root):
                return root  # e.g. 401/403 with the login form: log in and ask again
            raise httpclient.status_error(answer)
        if not answer.content.strip():
            raise BackendProtocolError("empty page")
        root = self._parse(answer)
        if self._encoding(answer) is None:
            # lxml found the charset in a <meta> tag: the excerpt should read as text too.
            context.record_raw(answer.content, root.getroottree().docinfo.encoding)
        return root

    def _parse_error_page(self, answer: httpclient.HttpAnswer) -> etree._Element | None:
        """The body of an HTTP error, if it is readable HTML; the status tells the story otherwise."""
        if not answer.content.strip():
            return None
        try:
            return self._parse(answer)
        except BackendProtocolError:
            log.debug("adapter %s: unreadable body of HTTP %s", self.id, answer.status)
            return None

    def _parse(self, answer: httpclient.HttpAnswer) -> etree._Element:
        return xmlsafe.parse_html(answer.content, encoding=self._encoding(answer), max_bytes=self.options.max_bytes)

    def _encoding(self, answer: httpclient.HttpAnswer) -> str | None:
        """The adapter's charset, else the header's if Python knows it; ``None`` lets lxml sniff ``<meta>``.

        A header naming a charset nobody knows is the system's mistake, not a
        reason to lose the page.
        """
        if self._charset:
            return self._charset
        if answer.encoding:
            # A header naming "base64" or "punycode" is not a charset either: let lxml sniff <meta>.
            known = xmlsafe.html_parser_charset(answer.encoding) if is_text_charset(answer.encoding) else None
            if known is None:
                log.debug("adapter %s: unusable charset %r in Content-Type ignored", self.id, answer.encoding)
            return known
        return None

    # -- login ----------------------------------------------------------------

    def _is_login_page(self, root: etree._Element) -> bool:
        return self._login_page is not None and matches(self._login_page(root))

    def _login(self, generation: int, login_root: etree._Element, context: LookupContext) -> None:
        login = self.options.login
        assert login is not None  # only called when a login page was recognised
        if not self._login_lock.acquire(timeout=context.remaining()):
            raise BackendTimeout(context.timeout_message())  # another lookup is still logging in
        try:
            if self._login_generation != generation:
                return  # another thread logged in while we were waiting for the page
            username, password = secrets.credentials(login.credentials)
            form = _hidden_inputs(login_root, login.password_field)
            form[login.username_field] = username
            form[login.password_field] = password
            answer = httpclient.request(
                self._session, "POST", login.url, context, max_bytes=self.options.max_bytes, data=form
            )
            if answer.status >= 400:
                raise BackendProtocolError(f"login failed: HTTP {answer.status} from system")
            if answer.content.strip() and self._is_login_page(self._parse(answer)):
                raise BackendProtocolError("login rejected by the system")
            self._login_generation += 1
            log.info("adapter %s logged in to %s", self.id, login.url)
        finally:
            self._login_lock.release()


def _parser_charset(charset: str, source: str) -> str:
    name = xmlsafe.html_parser_charset(charset)
    if name is None:
        raise ConfigError(source, "charset", f"the HTML parser cannot read {charset!r}; name the page's charset as "
                          "its Content-Type or <meta> tag does (for example utf-8, gbk, EUC-JP)")
    return name


def _hidden_inputs(root: etree._Element, password_field: str) -> dict[str, str]:
    """Hidden inputs (e.g. a CSRF token) of the form that asks for the password."""
    forms = root.xpath("//form[.//input[@name=$name]]", name=password_field)
    if not forms:
        return {}
    return {
        el.get("name"): el.get("value", "")
        for el in forms[0].xpath(".//input[@type='hidden' and @name]")
    }


def _quote(value: str) -> str:
    return quote(value, safe="")
