"""IAM policy documents for tests: a document from statements, and Allow/Deny statements."""

import json


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return dict(Effect="Allow", Action=action, Resource=resource, **extra)


def deny(action, resource="*"):
    return dict(Effect="Deny", Action=action, Resource=resource)
