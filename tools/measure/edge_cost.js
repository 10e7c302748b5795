// The edge function's cost on the worst requests we could build, under njs (what CloudFront
// runs) or node: per case, the memory the first call allocates (njs keeps it all: no GC) and
// the time per call over REPS calls. CloudFront allows 2 MB of memory per request and meters
// compute time; a function over its budget is throttled.
//
//   njs tools/measure/edge_cost.js function.js        (imgflex render --out DIR writes one)
//
// Render it from a policy with `signing = "required"` to measure the signature check too:
// the KeyValueStore here holds the key `k1` (its read costs nothing here; at the edge it is
// a lookup in the function's own store).
var fs = require('fs');
var crypto = require('crypto');
var REPS = 200;
var code = fs.readFileSync(process.argv[2], 'utf8');
var IMPORT = 'import cf from"cloudfront";import crypto from"crypto";';
var SECRET = 'imgflex-test-key-one-AAAAAAAAAAAAAAAAAAAAAA';
var cf = {
  selectRequestOriginById: function () {},
  kvs: function () {
    return {
      get: function (key) {
        return key === 'kid:k1' ? Promise.resolve(SECRET) : Promise.reject(new Error('not found'));
      },
    };
  },
};
var handler = new Function('cf', 'crypto', code.slice(IMPORT.length) + '\nreturn handler;')(cf, crypto);
function signed(target) {
  var url = target + (target.indexOf('?') < 0 ? '?' : '&') + 'kid=k1';
  return url + '&sig=' + crypto.createHmac('sha256', SECRET).update(url).digest('base64url');
}
function split(url) {
  var q = url.indexOf('?');
  var pairs = q < 0 ? [] : url.slice(q + 1).split('&').map(function (p) {
    var at = p.indexOf('=');
    return [p.slice(0, at), p.slice(at + 1)];
  });
  return event(q < 0 ? url : url.slice(0, q), pairs, null);
}

function repeat(s, n) {
  return new Array(n + 1).join(s);
}
function qs(pairs) {
  var o = {};
  for (var i = 0; i < pairs.length; i++) {
    var e = { value: pairs[i][1] };
    if (!Object.prototype.hasOwnProperty.call(o, pairs[i][0])) o[pairs[i][0]] = e;
    else {
      if (!o[pairs[i][0]].multiValue) o[pairs[i][0]].multiValue = [{ value: o[pairs[i][0]].value }];
      o[pairs[i][0]].multiValue.push(e);
    }
  }
  return o;
}
function event(uri, pairs, accept) {
  return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '192.0.2.1' },
    request: { method: 'GET', uri: uri, querystring: qs(pairs), headers: accept ? { accept: { value: accept } } : {}, cookies: {} } };
}
var many = [];
for (var i = 0; i < 1000; i++) many.push(['x' + i, '1']);
var same = [];
for (var j = 0; j < 2000; j++) same.push(['w', '1']);
var cases = [
  ['a plain variant', event('/photos/cat.jpg', [['w', '400'], ['h', '300'], ['fm', 'webp']], null)],
  ['every parameter at once', event('/photos/cat.jpg', [['w', '400'], ['h', '300'], ['fit', 'contain'], ['g', 'north'], ['fm', 'auto'], ['q', '80'], ['dpr', '2'], ['bg', 'rgb:00ff00'], ['enlarge', '1'], ['v', repeat('x', 32)]], 'image/avif,image/webp')],
  ['Accept: 1024 chars of matching ranges at q=0', event('/photos/cat.jpg', [['w', '400']], repeat('image/avif;q=0,', 68).slice(0, 1024))],
  ['Accept: 1024 commas', event('/photos/cat.jpg', [['w', '400']], repeat(',', 1024))],
  ['Accept: 16 KB of commas (ignored: over the cap)', event('/photos/cat.jpg', [['w', '400']], repeat(',', 16384))],
  ['1000 distinct unknown names', event('/photos/cat.jpg', many, null)],
  ['one name 2000 times', event('/photos/cat.jpg', same, null)],
  ['a 900-byte key of 450 segments', event("/" + repeat("a/", 447) + "a.jpg", [['w', '10']], null)],
  ['a path form of 400 tokens', event('/a.jpg/' + repeat('c_fill,', 399) + 'c_fill/x.webp', [], null)],
  ['an 8 KB path (refused: too long)', event('/' + repeat('%C3%A9', 1365) + '.jpg', [], null)],
  ['signed: a valid signature', split(signed('/photos/cat.jpg?w=400&h=300&fm=webp'))],
  ['signed: tampered', split(signed('/photos/cat.jpg?w=400&h=300&fm=webp').replace('w=400', 'w=401'))],
  ['signed: 30 parameters and a signature', split(signed('/photos/cat.jpg?' + repeat('x=1&', 29) + 'w=1'))],
];
// One case after another (the handler is async: a signature waits for the KeyValueStore).
function run(c) {
  if (c >= cases.length) return;
  var before = typeof njs !== 'undefined' ? njs.memoryStats.size : null;
  handler(JSON.parse(JSON.stringify(cases[c][1]))).then(function (out) {
    var bytes = before === null ? null : njs.memoryStats.size - before;
    var copies = [];
    for (var r = 0; r < REPS; r++) copies.push(JSON.parse(JSON.stringify(cases[c][1])));
    var t0 = Date.now();
    var k = 0;
    var next = function () {
      if (k < REPS) return handler(copies[k++]).then(next);
      var ms = (Date.now() - t0) / REPS;
      console.log(JSON.stringify({ case: cases[c][0], status: out.statusCode || 'forwarded', bytes: bytes, ms_per_call: ms }));
      run(c + 1);
    };
    next();
  });
}
run(0);
