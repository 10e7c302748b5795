// A signer for imgflex's signed URLs, small enough to copy into a front end: Node, nothing
// but node:crypto. README.md's "Signed URLs" section quotes sign() below, and a test runs this
// file against the signed vectors of tests/fixtures/url-vectors.json, so the copy you take
// is the one that is checked.
//
//   node tests/signing/sign.mjs TARGET KID SECRET [EXP]
//
// TARGET is the URL after its host, as the page will carry it (`/photos/cat.jpg?w=400`);
// EXP, unix seconds, the last second it works. Prints the signed target.
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';

// Appends kid, then exp (when given), then sig: HMAC-SHA256 of everything before `&sig=`
// under the secret's text, base64url without padding.
export function sign(target, kid, secret, expires) {
  let url = target + (target.includes('?') ? '&' : '?') + 'kid=' + kid;
  if (expires !== undefined && expires !== null) url += '&exp=' + expires;
  return url + '&sig=' + createHmac('sha256', secret).update(url).digest('base64url');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [, , target, kid, secret, exp] = process.argv;
  if (!target || !kid || !secret) {
    console.error('usage: node sign.mjs TARGET KID SECRET [EXP]');
    process.exit(2);
  }
  console.log(sign(target, kid, secret, exp));
}
