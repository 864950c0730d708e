"""Requests neither the JSON nor the query protocol claims are S3's (the one REST service), answered and audited as S3
answers them; an oversized query request is refused unread."""

import json
import urllib.error
import urllib.request

from client_helpers import audit_records


def test_requests_the_json_and_query_protocols_leave_are_s3s_and_audited(dev_server):
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
            body = e.read().decode()
            answers.append((method, path, e.code, body.split("<Code>")[1].split("</Code>")[0] if "<Code>" in body else body))
    # Unsigned, as S3 answers unsigned requests to what no bucket policy opens; unroutable ones as a wrong method.
    expected = {("GET", "/"): (403, "AccessDenied"), ("PUT", "/some/path"): (403, "AccessDenied"),
                ("POST", "/not-the-root"): (405, "MethodNotAllowed"), ("DELETE", "/"): (405, "MethodNotAllowed"),
                ("POST", "/"): (405, "MethodNotAllowed")}
    assert {(m, p): (code, kind) for m, p, code, kind in answers} == expected
    dev_server.stop()
    records = [r for r in audit_records(dev_server) if r["userAgent"].startswith("pipeline-test")]
    assert sorted(r["userAgent"] for r in records) == sorted(f"pipeline-test {m} {p}" for m, p, _, _ in answers)
    assert all(r.get("errorCode") in ("AccessDenied", "MethodNotAllowed") for r in records)


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
