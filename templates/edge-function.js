// imgflex viewer-request CloudFront Function (JS runtime 2.0).
// The JS twin of imgflex-core's route(): the same public URL grammar, policy,
// Accept negotiation and canonical variant key, held to it by the shared table
// tests/fixtures/url-vectors.json. `imgflex render` substitutes the policy,
// drops comment lines and indentation, and refuses a result over 10 KB.
// Comments must stay on lines of their own for that reason.
import cf from 'cloudfront';

var P = __IMGFLEX_POLICY__;

var QUERY = { w: 'w', width: 'w', h: 'h', height: 'h', fit: 'fit', g: 'g', gravity: 'g', fm: 'fm', format: 'fm', f: 'fm', q: 'q', quality: 'q', dpr: 'dpr', bg: 'bg', enlarge: 'enlarge', v: 'v', p: 'p', preset: 'p' };
var PATH = { w: 'w', h: 'h', c: 'fit', g: 'g', f: 'fm', q: 'q', dpr: 'dpr', b: 'bg', v: 'v', s: 'p' };
var FITS = ['cover', 'contain', 'fill', 'inside'];
var CFITS = { fill: 'cover', fit: 'inside', scale: 'fill', pad: 'contain', limit: 'inside' };
var GRAVITIES = ['center', 'north', 'south', 'east', 'west', 'northeast', 'northwest', 'southeast', 'southwest'];
var FORMATS = { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif' };
var EXT = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };
var IMAGE = /\.(jpe?g|png|webp|gif|avif)$/i;
var TOKEN = /^[A-Za-z0-9_-]{1,32}$/;

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
  if (!/^[0-9]+$/.test(s)) return null;
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
  var key = decode(path.charAt(0) === '/' ? path.slice(1) : path);
  if (key === null) fail(null, 'malformed path: not UTF-8');
  if (key === '') fail(null, 'malformed path: empty key');
  if (encodeURIComponent(key).replace(/%[0-9A-F]{2}/g, 'x').length > 900) fail(null, 'malformed path: key too long');
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(key)) fail(null, 'malformed path: control character or backslash');
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
  var lower = value.toLowerCase();
  var n;
  if (param === 'w' || param === 'h') {
    n = digits(value);
    if (n === null) invalid(param, 'a positive integer');
    params[param] = n;
  } else if (param === 'fit') {
    if (!pathForm) {
      if (FITS.indexOf(lower) < 0) invalid('fit', FITS.join(', '));
      params.fit = lower;
    } else {
      if (!CFITS.hasOwnProperty(lower)) invalid('fit', 'fill, fit, scale, pad or limit');
      params.fit = CFITS[lower];
      if (lower === 'limit') params.enlarge = 0;
    }
  } else if (param === 'g') {
    var g = lower.replace(/_/g, '');
    if (GRAVITIES.indexOf(g) < 0) invalid('g', GRAVITIES.join(', '));
    params.g = g;
  } else if (param === 'fm') {
    if (lower !== 'auto' && !FORMATS.hasOwnProperty(lower)) invalid('fm', 'auto, jpeg, png, webp or avif');
    params.fm = lower === 'auto' ? 'auto' : FORMATS[lower];
  } else if (param === 'q') {
    n = digits(value);
    if (n === null) invalid('q', 'an integer');
    if (n < 1 || n > 100) range('q', 1, 100);
    params.q = n;
  } else if (param === 'dpr') {
    var m = /^([0-9]+)(?:\.([0-9]))?$/.exec(value);
    if (!m) invalid('dpr', 'a number with at most one decimal');
    n = digits(m[1]) * 10 + (m[2] ? Number(m[2]) : 0);
    if (n < 10 || n > 40) range('dpr', 1, 4);
    params.dpr = n;
  } else if (param === 'bg') {
    var hex = lower.indexOf('rgb:') === 0 ? lower.slice(4) : lower;
    if (!/^[0-9a-f]{6}$/.test(hex)) invalid('bg', 'six hex digits (rrggbb)');
    params.bg = hex;
  } else if (param === 'enlarge') {
    if (value !== '0' && value !== '1') invalid('enlarge', '0 or 1');
    params.enlarge = Number(value);
  } else if (param === 'v') {
    if (!TOKEN.test(value)) invalid('v', '1 to 32 of A-Z a-z 0-9 _ -');
    params.v = value;
  } else {
    if (!TOKEN.test(lower)) invalid('p', 'a preset name');
    params.p = lower;
  }
}

// Whether Accept names `mime` with a quality above zero; wildcards do not count.
function accepts(accept, mime) {
  var ranges = accept.split(',');
  for (var i = 0; i < ranges.length; i++) {
    var parts = ranges[i].split(';');
    if (parts[0].trim().toLowerCase() !== mime) continue;
    var ok = true;
    for (var j = 1; j < parts.length; j++) {
      var kv = parts[j].split('=');
      if (kv.length > 1 && kv[0].trim().toLowerCase() === 'q') {
        var q = kv.slice(1).join('=').trim();
        ok = q !== '' && Number(q) > 0;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

function fallback(key) {
  return /\.(png|gif|webp)$/i.test(key) ? 'png' : 'jpeg';
}

function negotiate(accept, key) {
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
  if (!IMAGE.test(original) || tokens === '') return null;
  var list = tokens.split(',');
  for (var i = 0; i < list.length; i++) {
    if (!/^[A-Za-z]+_/.test(list[i])) return null;
  }
  return { original: original, tokens: list, name: parts[parts.length - 1] };
}

// The rewrite: returns the URI to forward (variants) or null (a plain original).
function route(uri, querystring, accept) {
  var key = toKey(uri);
  var names = Object.keys(querystring);
  var params = {};
  var i;
  var form = pathForm(key);
  if (form) {
    if (names.length > 0) fail(null, 'use either the query form or the path form, not both');
    for (i = 0; i < form.tokens.length; i++) {
      var at = form.tokens[i].indexOf('_');
      var tname = form.tokens[i].slice(0, at).toLowerCase();
      if (!PATH.hasOwnProperty(tname)) fail(form.tokens[i].slice(0, at), 'unknown parameter `' + form.tokens[i].slice(0, at) + '`');
      set(params, PATH[tname], form.tokens[i].slice(at + 1), true);
    }
    if (params.fm === undefined) {
      var ext = /\.([^.]*)$/.exec(form.name);
      var fm = ext ? ext[1].toLowerCase() : '';
      if (!FORMATS.hasOwnProperty(fm)) invalid('fm', 'a name ending in .jpg, .png, .webp or .avif, or an `f_` token');
      params.fm = FORMATS[fm];
    }
    return '/' + encodeKey(form.original) + '/' + resolve(params, form.original, accept);
  }
  if (names.length === 0) return null;
  if (!IMAGE.test(key)) fail(null, 'only images can be transformed (jpeg, png, webp, gif, avif)');
  for (i = 0; i < names.length; i++) {
    var entry = querystring[names[i]];
    var values = entry.multiValue ? entry.multiValue : [entry];
    var name = decode(names[i].replace(/\+/g, ' '));
    var param = name === null ? undefined : QUERY[name.toLowerCase()];
    if (param === undefined || !QUERY.hasOwnProperty(name.toLowerCase())) fail(name, 'unknown parameter `' + name + '`');
    for (var j = 0; j < values.length; j++) {
      var value = decode(String(values[j].value).replace(/\+/g, ' '));
      if (value === null) invalid(param, 'a valid percent-encoded value');
      set(params, param, value, false);
    }
  }
  return '/' + encodeKey(key) + '/' + resolve(params, key, accept);
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
    if (e.param !== null) headers['x-imgflex-param'] = { value: e.param };
    return { statusCode: 400, statusDescription: 'Bad Request', headers: headers, body: e.message + '\n' };
  }
}
