"""A plain HTTP client for the web console (no browser): forms, cookies and redirects as the tests need to see them."""

import html.parser
import http.client
import ssl
import urllib.parse

PREFIX = "/_keyhaven/console"


class Answer:
    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read().decode("utf-8", "replace")

    def cookie(self):
        """The `Set-Cookie` header's value, or None."""
        return self.headers.get("set-cookie")


class Console:
    """One browser's worth of state: the server, the session cookie (name=value) and the page's CSRF token."""

    def __init__(self, server):
        parsed = urllib.parse.urlsplit(server.endpoint)
        self.server = server
        self.tls = parsed.scheme == "https"
        self.host = parsed.netloc
        self.cookie = None

    def request(self, method, path, form=None, headers=None, cookie=True):
        connection = (
            http.client.HTTPSConnection(self.host, context=ssl._create_unverified_context())
            if self.tls
            else http.client.HTTPConnection(self.host)
        )
        sent = {"Host": self.host}
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie and self.cookie:
            sent["Cookie"] = self.cookie
        sent.update(headers or {})
        body = urllib.parse.urlencode(form) if form is not None else None
        connection.request(method, PREFIX + path, body=body, headers=sent)
        try:
            return Answer(connection.getresponse())
        finally:
            connection.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, form, **kwargs):
        return self.request("POST", path, form=form, **kwargs)

    def sign_in(self, access_key_id="test", secret="test", **fields):
        answer = self.post("/sign-in", {"access_key_id": access_key_id, "secret_access_key": secret, "region": "us-east-1", **fields})
        if answer.status == 303:
            self.cookie = answer.cookie().split(";")[0]
        return answer

    def csrf(self, path="/us-east-1"):
        """The CSRF token from a signed-in page's forms."""
        page = self.get(path)
        assert page.status == 200, page.body
        return hidden_fields(page.body)["_csrf"]


class _Hidden(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields.setdefault(attrs.get("name"), attrs.get("value"))


def hidden_fields(page):
    parser = _Hidden()
    parser.feed(page)
    return parser.fields


class _Scripts(html.parser.HTMLParser):
    """Finds what a `script-src 'self'; style-src 'self'` policy would block: inline scripts, handlers, styles."""

    def __init__(self):
        super().__init__()
        self.inline = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in attrs
        if tag == "style":
            self.inline.append("<style>")
        for name in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"{tag}[{name}]")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append("<script>" + data[:40])


def inline_code(page):
    """Inline scripts, event-handler attributes and style attributes or elements in `page`."""
    parser = _Scripts()
    parser.feed(page)
    return parser.inline
