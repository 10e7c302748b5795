// Runs request cases through generated CloudFront Functions the way CloudFront calls them: an
// event with the raw URI, the query string as CloudFront's object ({name: {value, multiValue}},
// names and values still percent-encoded, repeated names folded in order), lower-case headers,
// and the `cloudfront` module's selectRequestOriginById and kvs() (a KeyValueStore of the
// signing keys CASES.json gives, `kid:KID` to the secret, as `imgflex keys` writes them), and
// the `crypto` module. ES5 and promises with no engine extras, so the same file runs under
// node and under njs (Debian's `njs`, the engine CloudFront's runtime behaves as);
// cli/tests/e2e/edge.rs runs it under both and compares every answer with imgflex-core.
//
//   node|njs tests/edge/parity.js CASES.json POLICY=function.js [POLICY=function.js ...]
//
// CASES.json is {"now": unix seconds, "keys": {KID: secret}, "cases": [{"policy", "url",
// "accept", "hints"}]} (`hints`: client hint headers by lower-case name, or null);
// `Date.now` answers `now`. One JSON line per case comes out, in order:
// {"uri", "origin", "status", "param", "again", "dirty", "bytes"}: the forwarded URI and the
// origin selected, or the status and x-imgflex-param of a refusal; `again`, the URI that the
// x-imgflex-url header routes to when asked again with the same headers; `dirty`, what else is wrong with the
// request the function returned; `bytes`, what the call allocated (njs only: it has no GC,
// so the growth of njs.memoryStats.size is exactly one request's memory).
var fs = require('fs');
var crypto = require('crypto');
var IMPORT = 'import cf from"cloudfront";import crypto from"crypto";';
var KEYS = {};

function load(file) {
  var code = fs.readFileSync(file, 'utf8');
  if (code.indexOf(IMPORT) !== 0) throw new Error(file + ': the cloudfront import must come first');
  var cf = {
    selected: null,
    selectRequestOriginById: function (id) {
      this.selected = id;
    },
    // CloudFront's KeyValueStore handle: get() rejects for a key it does not hold.
    kvs: function () {
      return {
        get: function (key) {
          return Object.prototype.hasOwnProperty.call(KEYS, key) ? Promise.resolve(KEYS[key]) : Promise.reject(new Error('key not found'));
        },
      };
    },
  };
  var handler = new Function('cf', 'crypto', code.slice(IMPORT.length) + '\nreturn handler;')(cf, crypto);
  return { cf: cf, handler: handler };
}

function querystring(query) {
  var qs = {};
  var pieces = query.split('&');
  for (var i = 0; i < pieces.length; i++) {
    var piece = pieces[i];
    if (piece === '') continue;
    var at = piece.indexOf('=');
    var name = at < 0 ? piece : piece.slice(0, at);
    var value = at < 0 ? '' : piece.slice(at + 1);
    // defineProperty, so a name like `__proto__` is an own key the function sees (plain
    // assignment would set the object's prototype and hide it).
    if (!Object.prototype.hasOwnProperty.call(qs, name)) Object.defineProperty(qs, name, { value: { value: value }, enumerable: true, writable: true, configurable: true });
    else {
      if (!qs[name].multiValue) qs[name].multiValue = [{ value: qs[name].value }];
      qs[name].multiValue.push({ value: value });
    }
  }
  return qs;
}

// `hints`: more request headers by lower-case name (the client hints), or null.
function run(fn, url, accept, hints) {
  var headers = accept === null ? {} : { accept: { value: accept } };
  for (var name in hints || {}) headers[name] = { value: hints[name] };
  var q = url.indexOf('?');
  var event = {
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: '192.0.2.1' },
    request: {
      method: 'GET',
      uri: q < 0 ? url : url.slice(0, q),
      querystring: querystring(q < 0 ? '' : url.slice(q + 1)),
      headers: headers,
      cookies: {},
    },
  };
  fn.cf.selected = null;
  return fn.handler(event);
}

function memory() {
  return typeof njs !== 'undefined' && njs.memoryStats ? njs.memoryStats.size : null;
}

var args = process.argv.slice(2);
var input = JSON.parse(fs.readFileSync(args[0], 'utf8'));
var cases = input.cases;
var now = input.now * 1000;
Date.now = function () {
  return now;
};
for (var kid in input.keys) KEYS['kid:' + kid] = input.keys[kid];
var functions = {};
for (var i = 1; i < args.length; i++) {
  var at = args[i].indexOf('=');
  functions[args[i].slice(0, at)] = load(args[i].slice(at + 1));
}
function report(k, out, before) {
  var fn = functions[k.policy];
  var result = { uri: null, origin: null, status: null, param: null, again: null, dirty: null, bytes: null };
  if (before !== null) result.bytes = memory() - before;
  if (out.statusCode !== undefined) {
    result.status = out.statusCode;
    var header = out.headers['x-imgflex-param'];
    result.param = header === undefined ? null : header.value;
    return Promise.resolve(result);
  }
  result.uri = out.uri;
  result.origin = fn.cf.selected;
  var dirty = [];
  if (Object.keys(out.querystring).length !== 0) dirty.push('query string not cleared');
  var viewer = out.headers['x-imgflex-url'];
  var done = function () {
    if (dirty.length > 0) result.dirty = dirty.join('; ');
    return result;
  };
  if (fn.cf.selected === 'originals') {
    if (viewer !== undefined) dirty.push('x-imgflex-url set for an original');
  } else if (viewer === undefined) dirty.push('x-imgflex-url not set');
  else {
    // The handler's 302 for an oversize output names this URL: asked again with the same
    // Accept, it must reach the same variant (signature and all).
    return run(fn, viewer.value, k.accept, k.hints).then(function (again) {
      result.again = again.statusCode !== undefined ? 'answered ' + again.statusCode : again.uri;
      return done();
    });
  }
  return Promise.resolve(done());
}

// One case at a time, in order: a promise chain (njs has no top-level await).
function next(c) {
  if (c >= cases.length) return;
  var k = cases[c];
  var before = memory();
  var out;
  try {
    out = run(functions[k.policy], k.url, k.accept, k.hints);
  } catch (e) {
    out = Promise.reject(e);
  }
  Promise.resolve(out)
    .then(
      function (answer) {
        return report(k, answer, before);
      },
      function (e) {
        return { uri: null, origin: null, status: null, param: null, again: null, dirty: 'threw ' + e, bytes: null };
      }
    )
    .then(function (result) {
      console.log(JSON.stringify(result));
      next(c + 1);
    });
}
next(0);
