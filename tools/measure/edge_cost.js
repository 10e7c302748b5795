// The edge function's cost on the worst requests we could build, under njs (what CloudFront
// runs) or node: per case, the memory the first call allocates (njs keeps it all: no GC) and
// the time per call over REPS calls. CloudFront allows 2 MB of memory per request and meters
// compute time; a function over its budget is throttled.
//
//   njs tools/measure/edge_cost.js function.js        (imgflex render --out DIR writes one)
var fs = require('fs');
var REPS = 200;
var code = fs.readFileSync(process.argv[2], 'utf8');
var IMPORT = 'import cf from"cloudfront";';
var handler = new Function('cf', code.slice(IMPORT.length) + '\nreturn handler;')({ selectRequestOriginById: function () {} });

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
];
for (var c = 0; c < cases.length; c++) {
  var before = typeof njs !== 'undefined' ? njs.memoryStats.size : null;
  var out = handler(JSON.parse(JSON.stringify(cases[c][1])));
  var bytes = before === null ? null : njs.memoryStats.size - before;
  var copies = [];
  for (var r = 0; r < REPS; r++) copies.push(JSON.parse(JSON.stringify(cases[c][1])));
  var t0 = Date.now();
  for (var k = 0; k < REPS; k++) handler(copies[k]);
  var ms = (Date.now() - t0) / REPS;
  console.log(JSON.stringify({ case: cases[c][0], status: out.statusCode || 'forwarded', bytes: bytes, ms_per_call: ms }));
}
