#!/usr/bin/env python3
"""A signer for imgflex's signed URLs, small enough to copy into a front end: Python's
standard library only. README.md's "Signed URLs" section quotes sign() below, and a test runs
this file against the signed vectors of tests/fixtures/url-vectors.json, so the copy you take
is the one that is checked.

    python3 tests/signing/sign.py TARGET KID SECRET [EXP]

TARGET is the URL after its host, as the page will carry it (`/photos/cat.jpg?w=400`); EXP,
unix seconds, the last second it works. Prints the signed target.
"""
import base64
import hashlib
import hmac
import sys


def sign(target, kid, secret, expires=None):
    """Appends kid, then exp (when given), then sig: HMAC-SHA256 of everything before
    `&sig=` under the secret's text, base64url without padding."""
    url = target + ("&" if "?" in target else "?") + "kid=" + kid
    if expires is not None:
        url += "&exp=" + str(int(expires))
    mac = hmac.new(secret.encode(), url.encode(), hashlib.sha256).digest()
    return url + "&sig=" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print("usage: python3 sign.py TARGET KID SECRET [EXP]", file=sys.stderr)
        sys.exit(2)
    print(sign(*sys.argv[1:4], *(int(e) for e in sys.argv[4:])))
