#!/usr/bin/env python3
"""Writes the signed-URL and policy-bound vectors of tests/fixtures/url-vectors.json.

The signatures are computed here, with Python's own hmac, from the format the README
documents (the URL without `sig`, HMAC-SHA256 under the secret's text, base64url without
padding), not by imgflex: the table then holds imgflex-core and the edge function to the
written format. The expected outcomes are written out by hand below.

    python3 tools/vectors/generate.py    # rewrites the vectors tagged "signing" or "bounds"
"""
import base64
import hashlib
import hmac
import json
import pathlib

TABLE = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/url-vectors.json"
NOW = 1_900_000_000
KEYS = {
    "k1": "imgflex-test-key-one-AAAAAAAAAAAAAAAAAAAAAA",
    "k2": "imgflex-test-key-two-BBBBBBBBBBBBBBBBBBBBBB",
}
# Retired: signs, but is no longer in the KeyValueStore.
RETIRED = ("k0", "imgflex-test-key-zero-CCCCCCCCCCCCCCCCCCCCC")


def sig(secret, message):
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def signed(url, kid="k1", secret=None, exp=None):
    """The URL with kid, exp and, last, sig appended."""
    secret = secret or KEYS.get(kid)
    url += ("&" if "?" in url else "?") + "kid=" + kid
    if exp is not None:
        url += "&exp=" + str(exp)
    return url + "&sig=" + sig(secret, url)


W400_WEBP = "/_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp"
THUMB = "/_v/photos/cat.jpg/w300_h300_cover_center_q75_bgffffff_e0.webp"
S = signed("/photos/cat.jpg?w=400&fm=webp")
MID = "/photos/cat.jpg?w=400&sig=" + sig(KEYS["k1"], "/photos/cat.jpg?w=400&fm=webp&kid=k1") + "&fm=webp&kid=k1"


def ok(note, policy, url, uri, route="variant", accept=None):
    return {"note": note, "url": url, "accept": accept, "policy": policy, "uri": uri, "route": route}


def no(note, policy, url, status, param, accept=None):
    return {"note": note, "url": url, "accept": accept, "policy": policy, "status": status, "param": param}


VECTORS = [
    ok("signed: query form", "signed", S, W400_WEBP),
    ok("signed: with an expiry to come", "signed", signed("/photos/cat.jpg?w=400&fm=webp", exp=NOW + 3600), W400_WEBP),
    ok("signed: valid through its expiry second", "signed", signed("/photos/cat.jpg?w=400&fm=webp", exp=NOW), W400_WEBP),
    no("signed: expired a second ago", "signed", signed("/photos/cat.jpg?w=400&fm=webp", exp=NOW - 1), 403, "exp"),
    no("signed: the expiry is not a number", "signed", signed("/photos/cat.jpg?w=400&fm=webp&exp=soon"), 403, "exp"),
    no("signed: unsigned", "signed", "/photos/cat.jpg?w=400&fm=webp", 403, "sig"),
    no("signed: tampered width", "signed", S.replace("w=400", "w=4000"), 403, "sig"),
    no("signed: tampered expiry", "signed", signed("/photos/cat.jpg?w=400&fm=webp", exp=NOW - 1).replace("exp=%d" % (NOW - 1), "exp=%d" % (NOW + 1)), 403, "sig"),
    no("signed: reordered after signing", "signed", "/photos/cat.jpg?fm=webp&w=400&kid=k1&sig=" + S.rsplit("sig=", 1)[1], 403, "sig"),
    no("signed: the other key's secret under this kid", "signed", signed("/photos/cat.jpg?w=400&fm=webp", kid="k1", secret=KEYS["k2"]), 403, "sig"),
    ok("signed: the new key during a rotation", "signed", signed("/photos/cat.jpg?w=400&fm=webp", kid="k2"), W400_WEBP),
    no("signed: a retired key", "signed", signed("/photos/cat.jpg?w=400&fm=webp", kid=RETIRED[0], secret=RETIRED[1]), 403, "kid"),
    no("signed: no kid", "signed", "/photos/cat.jpg?w=400&fm=webp&sig=" + sig(KEYS["k1"], "/photos/cat.jpg?w=400&fm=webp"), 403, "kid"),
    no("signed: a kid that is no key id", "signed", signed("/photos/cat.jpg?w=400&fm=webp", kid="k%31", secret=KEYS["k1"]), 403, "kid"),
    no("signed: the signature one character short", "signed", S[:-1], 403, "sig"),
    no("signed: the signature padded", "signed", S + "=", 403, "sig"),
    no("signed: sig twice", "signed", S + "&sig=x", 400, "sig"),
    no("signed: kid twice", "signed", S + "&kid=k1", 400, "kid"),
    ok("signed: sig may stand anywhere", "signed", MID, W400_WEBP),
    ok("signed: path form", "signed", signed("/photos/cat.jpg/w_400/cat.webp"), W400_WEBP),
    ok("signed: fm=auto negotiates after the check", "signed", signed("/photos/cat.jpg?w=400&fm=auto"), "/_v/photos/cat.jpg/w400_inside_center_q50_bgffffff_e0_auto.avif", accept="image/avif,image/webp"),
    ok("signed: a plain original", "signed", signed("/photos/cat.jpg"), "/photos/cat.jpg", route="original"),
    no("signed: a plain original unsigned", "signed", "/photos/cat.jpg", 403, "sig"),
    no("signed: the signature is checked before the grammar", "signed", "/photos/cat.jpg?w=abc", 403, "sig"),
    no("signed: a signed URL still obeys the grammar", "signed", signed("/photos/cat.jpg?w=abc"), 400, "w"),
    no("signed: the path is checked before the signature", "signed", "/_v/cat.jpg?w=1", 400, None),
    no("signed: percent-encoded names are not signature parameters", "signed", S.replace("&sig=", "&%73ig="), 403, "sig"),
    ok("ad-hoc: a preset needs no signature", "ad_hoc", "/photos/cat.jpg?p=thumb&fm=webp", THUMB),
    ok("ad-hoc: a preset at a dpr needs none", "ad_hoc", "/photos/cat.jpg?preset=thumb&format=webp&dpr=2", "/_v/photos/cat.jpg/w600_h600_cover_center_q75_bgffffff_e0.webp"),
    ok("ad-hoc: a path-form preset needs none", "ad_hoc", "/photos/cat.jpg/s_thumb/cat.webp", THUMB),
    ok("ad-hoc: a plain original needs none", "ad_hoc", "/photos/cat.jpg", "/photos/cat.jpg", route="original"),
    no("ad-hoc: a width needs one", "ad_hoc", "/photos/cat.jpg?w=400&fm=webp", 403, "sig"),
    no("ad-hoc: a format alone is a transform", "ad_hoc", "/photos/cat.jpg?fm=webp", 403, "sig"),
    no("ad-hoc: a preset with a width needs one", "ad_hoc", "/photos/cat.jpg?p=thumb&w=10", 403, "sig"),
    no("ad-hoc: a preset with a version needs one", "ad_hoc", "/photos/cat.jpg?p=thumb&v=2", 403, "sig"),
    no("ad-hoc: a preset that animates needs one", "ad_hoc", "/photos/cat.gif?p=thumb&anim=1", 403, "sig"),
    no("ad-hoc: an unknown parameter needs one", "ad_hoc", "/photos/cat.jpg?p=thumb&utm_source=x", 403, "sig"),
    no("ad-hoc: a path-form width needs one", "ad_hoc", "/photos/cat.jpg/s_thumb,w_10/cat.webp", 403, "sig"),
    ok("ad-hoc: signed, a width is fine", "ad_hoc", S, W400_WEBP),
    no("ad-hoc: an unknown preset is refused as ever", "ad_hoc", "/photos/cat.jpg?p=nope", 400, "p"),
    ok("off: signature parameters are ignored", "default", "/photos/cat.jpg?w=400&fm=webp&kid=zz&exp=1&sig=junk", W400_WEBP),
    no("off: still at most once", "default", "/photos/cat.jpg?w=400&exp=1&exp=2", 400, "exp"),
    no("off: they do not make the path form mixed, other names do", "default", "/photos/cat.jpg/w_400/cat.webp?x=1&sig=a", 400, None),
    ok("off: nor a plain original a transform", "default", "/photos/cat.jpg?sig=a", "/photos/cat.jpg", route="original"),
]


V = "/_v/photos/cat.jpg/"
# Under "bounded": widths [320, 640, 1280], heights [240, 480], qualities [60, 80],
# backgrounds [ffffff, 000000], versions off.
BOUNDS = [
    ok("bounds: w rounds up to a width, h (scaled with it) up to a height", "bounded", "/photos/cat.jpg?w=400&h=250&fm=webp", V + "w640_h480_cover_center_q75_bgffffff_e0.webp"),
    ok("bounds: h alone rounds up to a height", "bounded", "/photos/cat.jpg?h=100&fm=webp", V + "h240_inside_center_q75_bgffffff_e0.webp"),
    ok("bounds: past the last height is the last", "bounded", "/photos/cat.jpg?h=1000&fm=webp", V + "h480_inside_center_q75_bgffffff_e0.webp"),
    ok("bounds: a listed quality", "bounded", "/photos/cat.jpg?w=100&fm=webp&q=60", V + "w320_inside_center_q60_bgffffff_e0.webp"),
    ok("bounds: the default quality applies unlisted", "bounded", "/photos/cat.jpg?w=100&fm=webp", V + "w320_inside_center_q75_bgffffff_e0.webp"),
    no("bounds: but cannot be asked for", "bounded", "/photos/cat.jpg?w=100&fm=webp&q=75", 400, "q"),
    no("bounds: an unlisted quality", "bounded", "/photos/cat.jpg?w=100&fm=webp&q=61", 400, "q"),
    no("bounds: the grammar comes first", "bounded", "/photos/cat.jpg?w=100&q=abc", 400, "q"),
    ok("bounds: a listed background", "bounded", "/photos/cat.jpg?w=100&h=100&fit=contain&bg=000000&fm=webp", V + "w320_h480_contain_center_q75_bg000000_e0.webp"),
    ok("bounds: white is listed here", "bounded", "/photos/cat.jpg?bg=FFFFFF&w=100&fm=webp", V + "w320_inside_center_q75_bgffffff_e0.webp"),
    no("bounds: an unlisted background", "bounded", "/photos/cat.jpg?w=100&bg=ff0000&fm=webp", 400, "bg"),
    no("bounds: an unlisted background even where it changes nothing", "bounded", "/photos/cat.jpg?w=100&bg=rgb:ff0000&fm=png", 400, "bg"),
    no("bounds: versions off refuses v", "bounded", "/photos/cat.jpg?w=100&v=2&fm=webp", 400, "v"),
    no("bounds: the size range is checked before the bounds", "bounded", "/photos/cat.jpg?w=5000&v=1", 400, "w"),
    ok("bounds: path form", "bounded", "/photos/cat.jpg/w_100,q_60/cat.webp", V + "w320_inside_center_q60_bgffffff_e0.webp"),
    no("bounds: path form v", "bounded", "/photos/cat.jpg/w_100,v_3/cat.webp", 400, "v"),
]


def render(doc):
    """The table's layout: the header indented, one vector per line."""
    head = {k: v for k, v in doc.items() if k != "vectors"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "vectors": [\n'
    lines = ["  " + json.dumps(v) for v in doc["vectors"]]
    return text + ",\n".join(lines) + "\n ]\n}\n"


def main():
    doc = json.loads(TABLE.read_text())
    doc["policies"]["signed"] = 'signing = "required"\n'
    doc["policies"]["ad_hoc"] = 'signing = "ad-hoc"\n\n[presets.thumb]\nw = 300\nh = 300\nfit = "cover"\n'
    doc["signing"] = {
        "about": "The clock (unix seconds) and the KeyValueStore (key id: secret) every vector runs with; k0 is retired (tools/vectors/generate.py wrote these vectors).",
        "now": NOW,
        "keys": KEYS,
    }
    doc["policies"]["bounded"] = (
        'widths = [320, 640, 1280]\nheights = [240, 480]\nqualities = [60, 80]\n'
        'backgrounds = ["ffffff", "000000"]\nversions = false\n'
    )
    vectors = [v for v in doc["vectors"] if not v.get("signing") and not v.get("bounds")]
    for v in VECTORS:
        v["signing"] = True
        vectors.append(v)
    for v in BOUNDS:
        v["bounds"] = True
        vectors.append(v)
    doc["vectors"] = vectors
    TABLE.write_text(render(doc))
    print(f"{len(VECTORS)} signing and {len(BOUNDS)} bounds vectors written to {TABLE}")


if __name__ == "__main__":
    main()
