"""Requests no protocol claims (another method, another path) are answered as AWS answers an unknown
operation, and audited like every other request."""

import json
import urllib.error
import urllib.request

from client_helpers import audit_records


def test_requests_no_protocol_claims_are_refused_and_audited(dev_server):
    answers = []
    # The last is a JSON POST to the root without X-Amz-Target: awsJson claims only requests naming a target.
    cases = [("GET", "/", None), ("PUT", "/some/path", None), ("POST", "/not-the-root", None), ("DELETE", "/", None),
             ("POST", "/", "application/x-amz-json-1.1")]
    for method, path, content_type in cases:
        headers = {"User-Agent": f"pipeline-test {method} {path}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(f"{dev_server.endpoint}{path}", data=b"{}" if method != "GET" else None,
                                         method=method, headers=headers)
        try:
            urllib.request.urlopen(request)
            answers.append((method, path, 200, None))
        except urllib.error.HTTPError as e:
            answers.append((method, path, e.code, json.loads(e.read())["__type"]))
    assert all(code == 400 and kind == "UnknownOperationException" for _, _, code, kind in answers), answers
    dev_server.stop()
    agents = [r["userAgent"] for r in audit_records(dev_server) if r["userAgent"].startswith("pipeline-test")]
    assert sorted(agents) == sorted(f"pipeline-test {m} {p}" for m, p, _, _ in answers)
    assert all(r.get("errorCode") == "UnknownOperationException"
               for r in audit_records(dev_server) if r["userAgent"].startswith("pipeline-test"))


def test_an_oversized_query_request_is_refused_unread_in_xml_and_audited(dev_server):
    body = b"Action=ListUsers&Version=2010-05-08&Padding=" + b"x" * (1024 * 1024)
    request = urllib.request.Request(dev_server.endpoint + "/", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "pipeline-test oversized query"})
    try:
        urllib.request.urlopen(request)
        raise AssertionError("an oversized request was served")
    except urllib.error.HTTPError as e:
        status, content_type, text = e.code, e.headers["Content-Type"], e.read().decode()
    # A query client parses <ErrorResponse>; the service is not known yet, so the error is in AWS's namespace.
    assert (status, content_type) == (413, "text/xml"), text
    assert "<ErrorResponse" in text and "<Code>RequestEntityTooLargeException</Code>" in text, text
    assert "http://webservices.amazon.com/AWSFault/2005-15-09" in text, text
    dev_server.stop()
    records = [r for r in audit_records(dev_server) if r["userAgent"] == "pipeline-test oversized query"]
    assert [r.get("errorCode") for r in records] == ["RequestEntityTooLargeException"]
