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
// and refuses a result over 10 KB. Signed URLs (imgflex-core's signature.rs) are
// checked before anything is rewritten, with the keys in the function's
// KeyValueStore: only then is the handler async.
import cf from 'cloudfront';
import crypto from 'crypto';

var P = __IMGFLEX_POLICY__;
// P.s: 0 off, 1 every URL, 2 all but presets and plain originals.
var KVS = P.s ? cf.kvs() : null;

var QUERY = { w: 'w', width: 'w', h: 'h', height: 'h', fit: 'fit', g: 'g', gravity: 'g', fm: 'fm', format: 'fm', f: 'fm', q: 'q', quality: 'q', dpr: 'dpr', bg: 'bg', enlarge: 'enlarge', anim: 'anim', v: 'v', p: 'p', preset: 'p' };
var PATH = { w: 'w', h: 'h', c: 'fit', g: 'g', f: 'fm', q: 'q', dpr: 'dpr', b: 'bg', a: 'anim', v: 'v', s: 'p' };
var FITS = ['cover', 'contain', 'fill', 'inside'];
var CFITS = { fill: 'cover', fit: 'inside', scale: 'fill', pad: 'contain', limit: 'inside' };
// A split string: 9 bytes fewer than the array literal, in a function held to 10 KB.
var GRAVITIES = 'center auto north south east west northeast northwest southeast southwest'.split(' ');
var FORMATS = { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif' };
var EXT = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };
var IMAGE = /\.(jpe?g|png|webp|gif|avif)$/;
var DIGITS = '0123456789';
var TOKEN = DIGITS + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-';

// Whether `s` is 1 to `max` characters, each one of `chars`.
function only(s, chars, max) {
  if (s.length < 1 || s.length > max) return false;
  for (var i = 0; i < s.length; i++) {
    if (chars.indexOf(s[i]) < 0) return false;
  }
  return true;
}

// ASCII lower case, as Rust's to_ascii_lowercase: the Kelvin sign stays itself.
// Only ever given short strings (values are at most 64 characters).
function lower(s) {
  var out = '';
  for (var i = 0; i < s.length; i++) {
    var c = s.charCodeAt(i);
    out += c > 64 && c < 91 ? String.fromCharCode(c + 32) : s[i];
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

function Refusal(param, message, status) {
  this.param = param;
  this.message = message;
  this.status = status || 400;
}

function fail(param, message, status) {
  throw new Refusal(param, message, status);
}

function invalid(param, expected, status) {
  fail(param, 'invalid value for `' + param + '`: expected ' + expected, status);
}

function repeated(name) {
  fail(name, 'parameter `' + name + '` is given more than once');
}

function unknown(name) {
  fail(name, 'unknown parameter `' + name + '`');
}

var TOO_MANY = 'more than 32 query parameters';

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

// A query's name or value: `+` is a space there (form encoding), never in the path.
function formDecode(s) {
  return decode(s.replace(/\+/g, ' '));
}

function bad(why) {
  fail(null, 'malformed path: ' + why);
}

// A request path to an S3 key, refusing what no original can be called.
function toKey(path) {
  // Every 3 characters of a path decode to at least one byte: longer is too long to
  // decode at all (an 8 KB path cost 12 ms and 1.4 MB under njs before this).
  if (path.length > 3 * 901) bad('key too long');
  var key = decode(path[0] === '/' ? path.slice(1) : path);
  if (key === null) bad('not UTF-8');
  if (key === '') bad('empty key');
  var utf8 = encodeURIComponent(key);
  var bytes = utf8.length;
  for (var at = utf8.indexOf('%'); at >= 0; at = utf8.indexOf('%', at + 1)) bytes -= 2;
  if (bytes > 900) bad('key too long');
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(key)) bad('control character or backslash');
  if (key === '_v' || key.indexOf('_v/') === 0) bad('`_v/` is reserved for variants');
  var segments = key.split('/');
  for (var i = 0; i < segments.length; i++) {
    if (segments[i] === '' || segments[i] === '.' || segments[i] === '..') bad('empty, `.` or `..` segment');
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
  if (param in params) repeated(param);
  if (value.length > 64) invalid(param, 'at most 64 characters');
  var low = lower(value);
  var n;
  // `w=auto`, `dpr=auto`: the viewer's client hints decide, in resolve().
  if (low === 'auto' && (param === 'w' || param === 'dpr')) params[param] = low;
  else if (param === 'w' || param === 'h') {
    n = digits(value);
    if (n === null) invalid(param, 'a positive integer' + (param === 'w' ? ' or `auto`' : ''));
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
    if (digits(m[0]) === null || m.length > 2 || (m.length === 2 && (m[1].length !== 1 || digits(m[1]) === null))) invalid('dpr', 'a number with at most one decimal, or `auto`');
    n = digits(m[0]) * 10 + (m.length === 2 ? Number(m[1]) : 0);
    if (n < 10 || n > 40) range('dpr', 1, 4);
    params.dpr = n;
  } else if (param === 'bg') {
    var hex = low.indexOf('rgb:') === 0 ? low.slice(4) : low;
    if (hex.length !== 6 || !only(hex, DIGITS + 'abcdef', 6)) invalid('bg', 'six hex digits (rrggbb)');
    params.bg = hex;
  } else if (param === 'enlarge' || param === 'anim') {
    if (value !== '0' && value !== '1') invalid(param, '0 or 1');
    params[param] = Number(value);
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
  while (a < b && ' \t'.indexOf(s[a]) >= 0) a++;
  while (b > a && ' \t'.indexOf(s[b - 1]) >= 0) b--;
  return s.slice(a, b);
}

// A weight above zero: `q=` then a qvalue, ( "0" [ "." 0*3DIGIT ] ) /
// ( "1" [ "." 0*3("0") ] ), with some digit other than 0.
function weighs(p) {
  var head = p[0];
  if (p.length > 5 || (p.length > 1 && p[1] !== '.') || (head !== '0' && head !== '1')) return false;
  var above = head === '1';
  for (var k = 2; k < p.length; k++) {
    var c = p[k];
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

// Only WebP animates: with `anim=1`, AVIF is not a candidate.
function negotiate(accept, key, anim) {
  if (accept.length > 1024 || /[^\t\x20-\x7e]/.test(accept)) accept = '';
  var candidates = anim ? ['webp'] : ['avif', 'webp'];
  for (var i = 0; i < candidates.length; i++) {
    if (P.f.indexOf(candidates[i]) >= 0 && accepts(accept, 'image/' + candidates[i])) return candidates[i];
  }
  return fallback(key);
}

// The first of an ascending list at least `n`, else its last (`widths`, `heights`).
function up(list, n) {
  for (var i = 0; i < list.length; i++) if (list[i] >= n) return list[i];
  return list[list.length - 1];
}

// An explicit value the policy lists, when it lists any (`qualities`, `backgrounds`).
function listed(param, list, value) {
  if (list.length && list.indexOf(value) < 0) fail(param, '`' + param + '` must be one of ' + list.join(', '));
}

function scale(n, num, den) {
  return Math.max(1, Math.round((n * num) / den));
}

// A request header's value, '' when it is absent.
function header(headers, name) {
  return headers[name] ? headers[name].value : '';
}

// The newer name of a hint first (`Sec-CH-DPR`, then `DPR`).
function clientHint(headers, name) {
  return header(headers, 'sec-ch-' + name) || header(headers, name);
}

function alone(param) {
  fail(param, '`' + param + '` cannot be given with `w=auto`');
}

// Resolves raw parameters, with the viewer's headers (Accept, client hints), into the
// canonical ops string and extension.
function resolve(params, key, headers) {
  var name;
  if (P.o) {
    var adHoc = ['w', 'h', 'fit', 'g', 'q', 'bg', 'enlarge', 'anim'];
    for (var i = 0; i < adHoc.length; i++) {
      if (adHoc[i] in params) fail(adHoc[i], '`' + adHoc[i] + '` is not allowed: presets only (`p`)');
    }
    if (!('p' in params)) fail('p', 'a preset (`p`) is required');
  }
  if ('p' in params) {
    if (!P.p.hasOwnProperty(params.p)) fail('p', 'unknown preset `' + params.p + '`');
    var preset = {};
    var values = P.p[params.p];
    for (name in values) set(preset, name, values[name], false);
    for (name in preset) {
      if (!(name in params)) params[name] = preset[name];
    }
  }
  var format = 'fm' in params ? params.fm : 'auto';
  var auto = format === 'auto';
  if (auto) format = negotiate(header(headers, 'accept'), key, params.anim);
  else if (P.f.indexOf(format) < 0) fail('fm', 'format `' + format + '` is not enabled on this service');

  if (params.w < 1 || params.w > P.W) range('w', 1, P.W);
  if (params.h < 1 || params.h > P.H) range('h', 1, P.H);
  // The policy's bounds on the free values; explicit values only.
  if ('v' in params && !P.v) fail('v', '`v` is not allowed on this service');
  if ('q' in params) listed('q', P.qs, params.q);
  if ('bg' in params) listed('bg', P.bs, params.bg);

  // Client hints (imgflex-core's hints.rs), after the bounds: a hint is never refused, only
  // rounded and clamped. `w=auto` is in device pixels already, so it stands alone.
  var w = params.w;
  var dpr = params.dpr;
  var hint;
  if (w === 'auto') {
    if ('h' in params) alone('h');
    if ('dpr' in params) alone('dpr');
    hint = clientHint(headers, 'width');
    w = only(hint, DIGITS, 5) && Number(hint) > 0 ? (P.ws.length ? Number(hint) : Math.ceil(hint / 100) * 100) : undefined;
  }
  if (dpr === 'auto') {
    hint = clientHint(headers, 'dpr');
    // `1.2.3` is NaN to Number, as it is no f64 to Rust: no hint.
    dpr = only(hint, DIGITS + '.', 8) && Number(hint) > 0 ? up(P.d, Number(hint) * 10) : 10;
  }
  // From here `w` and `h` are whole numbers from 1 up, or undefined: `w > 0` is "has a width".
  dpr = dpr || 10;
  if (w > 0) w = scale(w, dpr, 10);
  var h = 'h' in params ? scale(params.h, dpr, 10) : undefined;
  var shrink = Math.min(w > 0 ? P.W / w : 1, h > 0 ? P.H / h : 1);
  if (shrink < 1) {
    if (w > 0) w = Math.min(scale(w, shrink, 1), P.W);
    if (h > 0) h = Math.min(scale(h, shrink, 1), P.H);
  }
  if (w > 0 && P.ws.length > 0) {
    var allowed = up(P.ws, w);
    if (allowed !== w) {
      if (h > 0) h = Math.min(scale(h, allowed, w), P.H);
      w = allowed;
    }
  }
  if (h > 0 && P.hs.length > 0) h = up(P.hs, h);

  // Normalise what cannot change the output (TransformSpec::normalized).
  var fit = w > 0 && h > 0 ? params.fit || 'cover' : 'inside';
  // Saliency (`auto`) chooses a crop; `contain` crops nothing, so there it is centred.
  var gravity = 'g' in params && (fit === 'cover' || (fit === 'contain' && params.g !== 'auto')) ? params.g : 'center';
  var bg = fit === 'contain' || format === 'jpeg' ? params.bg || 'ffffff' : 'ffffff';
  var enlarge = (w > 0 || h > 0) && params.enlarge ? 1 : 0;
  var ops = [];
  if (w > 0) ops.push('w' + w);
  if (h > 0) ops.push('h' + h);
  ops.push(fit, gravity);
  // `Save-Data: on` lowers the default quality by the policy's amount (0: not at all).
  if (format !== 'png') ops.push('q' + ('q' in params ? params.q : Math.max(1, P.q[format] - (header(headers, 'save-data') === 'on' ? P.sd : 0))));
  ops.push('bg' + bg, 'e' + enlarge);
  if (params.anim && format === 'webp') ops.push('a1');
  if (auto) ops.push('auto');
  if ('v' in params) ops.push('v' + params.v);
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

// The request as the edge reads it: its key, path form, the pieces of its
// query but `kid`, `exp` and `sig` (those are in `sig`), and the signed message.
function parse(uri, querystring) {
  var key = toKey(uri);
  var names = Object.keys(querystring);
  var indexes = [];
  var others = [];
  var pieces = [];
  var i;
  // CloudFront's query object: by raw name in order of first appearance,
  // repeats in order; except that V8 lists array-index names (`0`, `17`) first
  // in numeric order and njs does not, so they are put first here on both.
  // An empty name with an empty value (`?&`, `?=`) is nothing.
  // At most 32 parameters: more is refused before they are looked at (1,000 names
  // cost 1.4 MB of the 2 MB an njs request has).
  if (names.length > 33) fail(null, TOO_MANY);
  for (i = 0; i < names.length; i++) {
    var n = names[i];
    var index = (n === '0' || (n[0] !== '0' && only(n, DIGITS, 10))) && Number(n) < 4294967295;
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
      if (pieces.length > 32) fail(null, TOO_MANY);
    }
  }
  var sig = {};
  var rest = [];
  var signed = [];
  for (i = 0; i < pieces.length; i++) {
    var name = pieces[i][0];
    if (name === 'sig' || name === 'kid' || name === 'exp') {
      if (sig.hasOwnProperty(name)) repeated(name);
      sig[name] = pieces[i][1];
    } else rest.push(pieces[i]);
    if (name !== 'sig') signed.push(name + '=' + pieces[i][1]);
  }
  return { key: key, form: pathForm(key), pieces: rest, sig: sig, message: uri + (signed.length ? '?' + signed.join('&') : '') };
}

// Under ad-hoc signing: a plain original, or only `p`, `fm` and `dpr` with a `p`.
function free(r) {
  if (r.form && r.pieces.length) return false;
  var preset = false;
  var list = r.form ? r.form.tokens : r.pieces;
  for (var i = 0; i < list.length; i++) {
    var name = r.form ? lookup(PATH, list[i].slice(0, list[i].indexOf('_'))) : lookup(QUERY, formDecode(list[i][0]) || '');
    if (name === 'p') preset = true;
    else if (name !== 'fm' && name !== 'dpr') return false;
  }
  return preset || list.length === 0;
}

function deny(param, message) {
  fail(param, message, 403);
}

// The key, the HMAC (compared in constant time), then the expiry.
async function verify(sig, message) {
  if (sig.sig == null) deny('sig', 'a signature (`sig`) is required');
  var secret = null;
  if (only(sig.kid || '', TOKEN, 32)) {
    try {
      secret = await KVS.get('kid:' + sig.kid);
    } catch (e) {}
  }
  if (secret === null) deny('kid', 'unknown signing key (`kid`)');
  var want = crypto.createHmac('sha256', secret).update(message).digest('base64url');
  var diff = sig.sig.length === want.length ? 0 : 1;
  for (var i = 0; i < want.length; i++) diff |= want.charCodeAt(i) ^ sig.sig.charCodeAt(i);
  if (diff) deny('sig', 'signature (`sig`) does not match');
  if (sig.exp != null) {
    if (!only(sig.exp, DIGITS, 12)) invalid('exp', 'unix seconds', 403);
    if (Math.floor(Date.now() / 1000) > Number(sig.exp)) deny('exp', 'signed URL expired at ' + sig.exp);
  }
}

// The rewrite: returns the URI to forward (variants) or null (a plain original).
function rewrite(r, headers) {
  var key = r.key;
  var pieces = r.pieces;
  var form = r.form;
  var params = {};
  var i;
  if (form) {
    if (pieces.length > 0) fail(null, 'query and path forms mixed');
    for (i = 0; i < form.tokens.length; i++) {
      var at = form.tokens[i].indexOf('_');
      var tname = form.tokens[i].slice(0, at);
      var tparam = lookup(PATH, tname);
      if (tparam == null) unknown(tname);
      set(params, tparam, form.tokens[i].slice(at + 1), true);
    }
    if (!('fm' in params)) {
      var ext = /\.([^.]*)$/.exec(form.name);
      var fm = ext ? lower(ext[1]) : '';
      if (!FORMATS.hasOwnProperty(fm)) invalid('fm', 'a .jpg, .png, .webp or .avif name, or `f_`');
      params.fm = FORMATS[fm];
    }
    key = form.original;
  } else {
    if (pieces.length === 0) return null;
    if (!isImage(key)) fail(null, 'not an image (jpeg, png, webp, gif, avif)');
    for (i = 0; i < pieces.length; i++) {
      var name = formDecode(pieces[i][0]);
      var param = name === null ? undefined : lookup(QUERY, name);
      if (param == null) unknown(name);
      var value = formDecode(pieces[i][1]);
      if (value === null) invalid(param, 'a valid percent-encoded value');
      set(params, param, value, false);
    }
  }
  return '/_v/' + encodeKey(key) + '/' + resolve(params, key, headers);
}

async function handler(event) {
  var request = event.request;
  try {
    var r = parse(request.uri, request.querystring);
    if (P.s === 1 || (P.s && !free(r))) await verify(r.sig, r.message);
    var variant = rewrite(r, request.headers);
    if (variant === null) {
      request.uri = '/' + encodeKey(r.key);
      cf.selectRequestOriginById('originals');
    } else {
      // The handler redirects an output too big to answer to the URL the viewer asked for
      // (the canonical URI would come back here as an original); it only sees this header.
      // Set here, so a viewer's own x-imgflex-url never reaches it.
      // The signed message is the URL but `sig`, which may go anywhere.
      var sig = r.sig.sig;
      request.headers['x-imgflex-url'] = { value: r.message + (sig == null ? '' : (r.message.indexOf('?') < 0 ? '?' : '&') + 'sig=' + sig) };
      request.uri = variant;
    }
    request.querystring = {};
    return request;
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    // A 403 is cached briefly: a key may be seconds from reaching this edge.
    var headers = { 'content-type': { value: 'text/plain; charset=utf-8' }, 'cache-control': { value: 'public, max-age=' + (e.status === 400 ? 60 : 10) } };
    // Only a plain name is echoed: viewer text could carry CR/LF into a header.
    if (e.param !== null && only(e.param, TOKEN + '.', 32)) headers['x-imgflex-param'] = { value: e.param };
    // No statusDescription: it is optional, and CloudFront sends the status's own phrase.
    return { statusCode: e.status, headers: headers, body: e.message + '\n' };
  }
}
