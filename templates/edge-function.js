// imgflex viewer-request CloudFront Function (JS runtime 2.0).
// The JS twin of imgflex-core's route(): the same public URL grammar, policy,
// Accept negotiation and canonical variant key, held to it by the shared table
// tests/fixtures/url-vectors.json and a seeded differential fuzz, under node
// and under njs (the engine CloudFront's runtime behaves as). So: characters
// are checked against explicit sets, not regexes (njs lets `$` match before a
// final newline, and each regex run allocates ~20 KB that njs, without a GC,
// keeps for the request); case folding is ASCII only (toLowerCase folds
// Unicode, differently per engine); no trim() (engines disagree on what
// whitespace is). Regexes run a bounded number of times per request.
// tools/edge/minify.mjs minifies it; `imgflex render` substitutes the policy
// and refuses a result over 10 KB.
import cf from 'cloudfront';

var P = __IMGFLEX_POLICY__;

var QUERY = { w: 'w', width: 'w', h: 'h', height: 'h', fit: 'fit', g: 'g', gravity: 'g', fm: 'fm', format: 'fm', f: 'fm', q: 'q', quality: 'q', dpr: 'dpr', bg: 'bg', enlarge: 'enlarge', v: 'v', p: 'p', preset: 'p' };
var PATH = { w: 'w', h: 'h', c: 'fit', g: 'g', f: 'fm', q: 'q', dpr: 'dpr', b: 'bg', v: 'v', s: 'p' };
var FITS = ['cover', 'contain', 'fill', 'inside'];
var CFITS = { fill: 'cover', fit: 'inside', scale: 'fill', pad: 'contain', limit: 'inside' };
var GRAVITIES = ['center', 'north', 'south', 'east', 'west', 'northeast', 'northwest', 'southeast', 'southwest'];
var FORMATS = { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif' };
var EXT = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };
var IMAGE = /\.(jpe?g|png|webp|gif|avif)$/;
var DIGITS = '0123456789';
var TOKEN = DIGITS + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-';

// Whether `s` is 1 to `max` characters, each one of `chars`.
function only(s, chars, max) {
  if (s.length < 1 || s.length > max) return false;
  for (var i = 0; i < s.length; i++) {
    if (chars.indexOf(s.charAt(i)) < 0) return false;
  }
  return true;
}

// ASCII lower case, as Rust's to_ascii_lowercase: the Kelvin sign stays itself.
// Only ever given short strings (values are at most 64 characters).
function lower(s) {
  var out = '';
  for (var i = 0; i < s.length; i++) {
    var c = s.charCodeAt(i);
    out += c > 64 && c < 91 ? String.fromCharCode(c + 32) : s.charAt(i);
  }
  return out;
}

// A name in a table (QUERY, PATH): no name there is longer than 8.
function lookup(table, name) {
  var low = name.length > 8 ? '' : lower(name);
  return table.hasOwnProperty(low) ? table[low] : undefined;
}

// The extension decides (the key has no control characters by now).
function isImage(key) {
  return IMAGE.test(lower(key.slice(-5)));
}

function Refusal(param, message) {
  this.param = param;
  this.message = message;
}

function fail(param, message) {
  throw new Refusal(param, message);
}

function invalid(param, expected) {
  fail(param, 'invalid value for `' + param + '`: expected ' + expected);
}

function range(param, min, max) {
  fail(param, '`' + param + '` must be between ' + min + ' and ' + max);
}

// Plain ASCII digits; too big saturates (as u32 does in Rust) so the range
// check names the limit.
function digits(s) {
  if (!only(s, DIGITS, 64)) return null;
  var n = Number(s);
  return n > 4294967295 ? 4294967295 : n;
}

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return null;
  }
}

// A request path to an S3 key, refusing what no original can be called.
function toKey(path) {
  // Every 3 characters of a path decode to at least one byte: longer is too long to
  // decode at all (an 8 KB path cost 12 ms and 1.4 MB under njs before this).
  if (path.length > 3 * 901) fail(null, 'malformed path: key too long');
  var key = decode(path.charAt(0) === '/' ? path.slice(1) : path);
  if (key === null) fail(null, 'malformed path: not UTF-8');
  if (key === '') fail(null, 'malformed path: empty key');
  var utf8 = encodeURIComponent(key);
  var bytes = utf8.length;
  for (var at = utf8.indexOf('%'); at >= 0; at = utf8.indexOf('%', at + 1)) bytes -= 2;
  if (bytes > 900) fail(null, 'malformed path: key too long');
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(key)) fail(null, 'malformed path: control character or backslash');
  if (key === '_v' || key.indexOf('_v/') === 0) fail(null, 'malformed path: `_v/` is reserved for variants');
  var segments = key.split('/');
  for (var i = 0; i < segments.length; i++) {
    if (segments[i] === '' || segments[i] === '.' || segments[i] === '..') fail(null, 'malformed path: empty, `.` or `..` segment');
  }
  return key;
}

// The one URI encoding: RFC 3986 unreserved characters and `/` stay as they are.
function encodeKey(key) {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/[!'()*]/g, function (c) {
    return '%' + c.charCodeAt(0).toString(16).toUpperCase();
  });
}

function set(params, param, value, pathForm) {
  if (params[param] !== undefined) fail(param, 'parameter `' + param + '` is given more than once');
  if (value.length > 64) invalid(param, 'at most 64 characters');
  var low = lower(value);
  var n;
  if (param === 'w' || param === 'h') {
    n = digits(value);
    if (n === null) invalid(param, 'a positive integer');
    params[param] = n;
  } else if (param === 'fit') {
    if (!pathForm) {
      if (FITS.indexOf(low) < 0) invalid('fit', FITS.join(', '));
      params.fit = low;
    } else {
      if (!CFITS.hasOwnProperty(low)) invalid('fit', 'fill, fit, scale, pad or limit');
      params.fit = CFITS[low];
      if (low === 'limit') params.enlarge = 0;
    }
  } else if (param === 'g') {
    var g = low.replace(/_/g, '');
    if (GRAVITIES.indexOf(g) < 0) invalid('g', GRAVITIES.join(', '));
    params.g = g;
  } else if (param === 'fm') {
    if (low !== 'auto' && !FORMATS.hasOwnProperty(low)) invalid('fm', 'auto, jpeg, png, webp or avif');
    params.fm = low === 'auto' ? 'auto' : FORMATS[low];
  } else if (param === 'q') {
    n = digits(value);
    if (n === null) invalid('q', 'an integer');
    if (n < 1 || n > 100) range('q', 1, 100);
    params.q = n;
  } else if (param === 'dpr') {
    var m = value.split('.');
    if (digits(m[0]) === null || m.length > 2 || (m.length === 2 && (m[1].length !== 1 || digits(m[1]) === null))) invalid('dpr', 'a number with at most one decimal');
    n = digits(m[0]) * 10 + (m.length === 2 ? Number(m[1]) : 0);
    if (n < 10 || n > 40) range('dpr', 1, 4);
    params.dpr = n;
  } else if (param === 'bg') {
    var hex = low.indexOf('rgb:') === 0 ? low.slice(4) : low;
    if (hex.length !== 6 || !only(hex, DIGITS + 'abcdef', 6)) invalid('bg', 'six hex digits (rrggbb)');
    params.bg = hex;
  } else if (param === 'enlarge') {
    if (value !== '0' && value !== '1') invalid('enlarge', '0 or 1');
    params.enlarge = Number(value);
  } else if (param === 'v') {
    if (!only(value, TOKEN, 32)) invalid('v', '1 to 32 of A-Z a-z 0-9 _ -');
    params.v = value;
  } else {
    if (!only(low, TOKEN, 32)) invalid('p', 'a preset name');
    params.p = low;
  }
}

// RFC 9110: `range *( OWS ";" OWS parameter )`, the weight the first `q=`
// parameter, a qvalue. An Accept over 1024 characters, or with anything but
// visible ASCII, space and tab, is not read (imgflex-core's accept.rs).
function ows(s) {
  var a = 0;
  var b = s.length;
  while (a < b && (s.charAt(a) === ' ' || s.charAt(a) === '\t')) a++;
  while (b > a && (s.charAt(b - 1) === ' ' || s.charAt(b - 1) === '\t')) b--;
  return s.slice(a, b);
}

// A weight above zero: `q=` then a qvalue, ( "0" [ "." 0*3DIGIT ] ) /
// ( "1" [ "." 0*3("0") ] ), with some digit other than 0.
function weighs(p) {
  var head = p.charAt(0);
  if (p.length > 5 || (p.length > 1 && p.charAt(1) !== '.') || (head !== '0' && head !== '1')) return false;
  var above = head === '1';
  for (var k = 2; k < p.length; k++) {
    var c = p.charAt(k);
    if (DIGITS.indexOf(c) < 0 || (head === '1' && c !== '0')) return false;
    if (c !== '0') above = true;
  }
  return above;
}

function accepts(accept, mime) {
  var ranges = accept.split(',');
  for (var i = 0; i < ranges.length; i++) {
    var semi = ranges[i].indexOf(';');
    var media = ows(semi < 0 ? ranges[i] : ranges[i].slice(0, semi));
    if (media.length !== mime.length || lower(media) !== mime) continue;
    var parts = ranges[i].split(';');
    var ok = true;
    for (var j = 1; j < parts.length; j++) {
      var p = ows(parts[j]);
      if (lower(p.slice(0, 2)) === 'q=') {
        ok = weighs(p.slice(2));
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

function fallback(key) {
  return /\.(png|gif|webp)$/.test(lower(key.slice(-5))) ? 'png' : 'jpeg';
}

function negotiate(accept, key) {
  if (accept.length > 1024 || /[^\t\x20-\x7e]/.test(accept)) accept = '';
  var candidates = ['avif', 'webp'];
  for (var i = 0; i < candidates.length; i++) {
    if (P.formats.indexOf(candidates[i]) >= 0 && accepts(accept, 'image/' + candidates[i])) return candidates[i];
  }
  return fallback(key);
}

function scale(n, num, den) {
  return Math.max(1, Math.round((n * num) / den));
}

// Resolves raw parameters into the canonical ops string and extension.
function resolve(params, key, accept) {
  var name;
  if (P.only) {
    var adHoc = ['w', 'h', 'fit', 'g', 'q', 'bg', 'enlarge'];
    for (var i = 0; i < adHoc.length; i++) {
      if (params[adHoc[i]] !== undefined) fail(adHoc[i], '`' + adHoc[i] + '` is not allowed: this service only serves presets (`p`)');
    }
    if (params.p === undefined) fail('p', 'a preset (`p`) is required: this service only serves presets');
  }
  if (params.p !== undefined) {
    if (!P.presets.hasOwnProperty(params.p)) fail('p', 'unknown preset `' + params.p + '`');
    var preset = {};
    var values = P.presets[params.p];
    for (name in values) set(preset, name, values[name], false);
    for (name in preset) {
      if (params[name] === undefined) params[name] = preset[name];
    }
  }
  var format = params.fm === undefined ? 'auto' : params.fm;
  var auto = format === 'auto';
  if (auto) format = negotiate(accept, key);
  else if (P.formats.indexOf(format) < 0) fail('fm', 'format `' + format + '` is not enabled on this service');

  if (params.w !== undefined && (params.w < 1 || params.w > P.maxWidth)) range('w', 1, P.maxWidth);
  if (params.h !== undefined && (params.h < 1 || params.h > P.maxHeight)) range('h', 1, P.maxHeight);

  var dpr = params.dpr === undefined ? 10 : params.dpr;
  var w = params.w === undefined ? undefined : scale(params.w, dpr, 10);
  var h = params.h === undefined ? undefined : scale(params.h, dpr, 10);
  var shrink = Math.min(w === undefined ? 1 : P.maxWidth / w, h === undefined ? 1 : P.maxHeight / h);
  if (shrink < 1) {
    if (w !== undefined) w = Math.min(scale(w, shrink, 1), P.maxWidth);
    if (h !== undefined) h = Math.min(scale(h, shrink, 1), P.maxHeight);
  }
  if (w !== undefined && P.widths.length > 0) {
    var allowed = P.widths[P.widths.length - 1];
    for (var k = 0; k < P.widths.length; k++) {
      if (P.widths[k] >= w) {
        allowed = P.widths[k];
        break;
      }
    }
    if (allowed !== w) {
      if (h !== undefined) h = Math.min(scale(h, allowed, w), P.maxHeight);
      w = allowed;
    }
  }

  // Normalise what cannot change the output (TransformSpec::normalized).
  var both = w !== undefined && h !== undefined;
  var fit = both ? (params.fit === undefined ? 'cover' : params.fit) : 'inside';
  var gravity = fit === 'cover' || fit === 'contain' ? (params.g === undefined ? 'center' : params.g) : 'center';
  var bg = fit === 'contain' || format === 'jpeg' ? (params.bg === undefined ? 'ffffff' : params.bg) : 'ffffff';
  var enlarge = w === undefined && h === undefined ? 0 : params.enlarge === undefined ? 0 : params.enlarge;
  var ops = [];
  if (w !== undefined) ops.push('w' + w);
  if (h !== undefined) ops.push('h' + h);
  ops.push(fit, gravity);
  if (format !== 'png') ops.push('q' + (params.q === undefined ? P.quality[format] : params.q));
  ops.push('bg' + bg, 'e' + enlarge);
  if (auto) ops.push('auto');
  if (params.v !== undefined) ops.push('v' + params.v);
  return ops.join('_') + '.' + EXT[format];
}

// `{original}/{tokens}/{name}` where the original is an image and every token is `x_value`.
function pathForm(key) {
  var parts = key.split('/');
  if (parts.length < 3) return null;
  var tokens = parts[parts.length - 2];
  var original = parts.slice(0, parts.length - 2).join('/');
  if (!isImage(original) || tokens === '') return null;
  var list = tokens.split(',');
  for (var i = 0; i < list.length; i++) {
    var at = list[i].indexOf('_');
    if (at < 1 || !only(list[i].slice(0, at), TOKEN.slice(10, 62), at)) return null;
  }
  return { original: original, tokens: list, name: parts[parts.length - 1] };
}

// The rewrite: returns the URI to forward (variants) or null (a plain original).
function route(uri, querystring, accept) {
  var key = toKey(uri);
  var names = Object.keys(querystring);
  var indexes = [];
  var others = [];
  var pieces = [];
  var params = {};
  var i;
  // CloudFront's query object: by raw name in order of first appearance,
  // repeats in order; except that V8 lists array-index names (`0`, `17`) first
  // in numeric order and njs does not, so they are put first here on both.
  // An empty name with an empty value (`?&`, `?=`) is nothing.
  // At most 32 parameters: more is refused before they are looked at (1,000 names
  // cost 1.4 MB of the 2 MB an njs request has).
  if (names.length > 33) fail(null, 'more than 32 query parameters');
  for (i = 0; i < names.length; i++) {
    var n = names[i];
    var index = (n === '0' || (n.charAt(0) !== '0' && only(n, DIGITS, 10))) && Number(n) < 4294967295;
    (index ? indexes : others).push(n);
  }
  indexes.sort(function (a, b) {
    return Number(a) - Number(b);
  });
  names = indexes.concat(others);
  for (i = 0; i < names.length; i++) {
    var entry = querystring[names[i]];
    var values = entry.multiValue ? entry.multiValue : [entry];
    for (var j = 0; j < values.length; j++) {
      var raw = String(values[j].value);
      if (names[i] !== '' || raw !== '') pieces.push([names[i], raw]);
      if (pieces.length > 32) fail(null, 'more than 32 query parameters');
    }
  }
  var form = pathForm(key);
  if (form) {
    if (pieces.length > 0) fail(null, 'use either the query form or the path form, not both');
    for (i = 0; i < form.tokens.length; i++) {
      var at = form.tokens[i].indexOf('_');
      var tname = form.tokens[i].slice(0, at);
      var tparam = lookup(PATH, tname);
      if (tparam === undefined) fail(tname, 'unknown parameter `' + tname + '`');
      set(params, tparam, form.tokens[i].slice(at + 1), true);
    }
    if (params.fm === undefined) {
      var ext = /\.([^.]*)$/.exec(form.name);
      var fm = ext ? lower(ext[1]) : '';
      if (!FORMATS.hasOwnProperty(fm)) invalid('fm', 'a name ending in .jpg, .png, .webp or .avif, or an `f_` token');
      params.fm = FORMATS[fm];
    }
    return '/_v/' + encodeKey(form.original) + '/' + resolve(params, form.original, accept);
  }
  if (pieces.length === 0) return null;
  if (!isImage(key)) fail(null, 'only images can be transformed (jpeg, png, webp, gif, avif)');
  for (i = 0; i < pieces.length; i++) {
    var name = decode(pieces[i][0].replace(/\+/g, ' '));
    var param = name === null ? undefined : lookup(QUERY, name);
    if (param === undefined) fail(name, 'unknown parameter `' + name + '`');
    var value = decode(pieces[i][1].replace(/\+/g, ' '));
    if (value === null) invalid(param, 'a valid percent-encoded value');
    set(params, param, value, false);
  }
  return '/_v/' + encodeKey(key) + '/' + resolve(params, key, accept);
}

// The query string as it came: names and values stay percent-encoded, repeats in order.
function viewerQuery(querystring) {
  var names = Object.keys(querystring);
  var parts = [];
  for (var i = 0; i < names.length; i++) {
    var entry = querystring[names[i]];
    var values = entry.multiValue ? entry.multiValue : [entry];
    for (var j = 0; j < values.length; j++) parts.push(names[i] + '=' + values[j].value);
  }
  return parts.length > 0 ? '?' + parts.join('&') : '';
}

function handler(event) {
  var request = event.request;
  var accept = request.headers.accept ? request.headers.accept.value : '';
  try {
    var variant = route(request.uri, request.querystring, accept);
    if (variant === null) {
      request.uri = '/' + encodeKey(toKey(request.uri));
      cf.selectRequestOriginById('originals');
    } else {
      // The handler redirects an output too big to answer to the URL the viewer asked for
      // (the canonical URI would come back here as an original); it only sees this header.
      // Set here, so a viewer's own x-imgflex-url never reaches it.
      request.headers['x-imgflex-url'] = { value: request.uri + viewerQuery(request.querystring) };
      request.uri = variant;
    }
    request.querystring = {};
    return request;
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    var headers = { 'content-type': { value: 'text/plain; charset=utf-8' }, 'cache-control': { value: 'public, max-age=60' } };
    // Only a plain name is echoed: viewer text could carry CR/LF into a header.
    if (e.param !== null && only(e.param, TOKEN + '.', 32)) headers['x-imgflex-param'] = { value: e.param };
    return { statusCode: 400, statusDescription: 'Bad Request', headers: headers, body: e.message + '\n' };
  }
}
