// Runs the URL vector table through the generated CloudFront Function under node, the way
// CloudFront calls it: an event with the raw URI, the query string as CloudFront's object
// ({name: {value, multiValue}}), lower-case headers, and the `cloudfront` module's
// selectRequestOriginById. Exits 1 listing every vector the JS and the table disagree on.
//
//   node tests/edge/parity.mjs url-vectors.json POLICY=function.js [POLICY=function.js ...]
import { readFileSync } from 'node:fs';

const [table, ...pairs] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(table, 'utf8'));
const IMPORT = 'import cf from"cloudfront";';

function load(file) {
  const code = readFileSync(file, 'utf8');
  if (!code.startsWith(IMPORT)) throw new Error(`${file}: the cloudfront import must come first`);
  const cf = { selected: null, selectRequestOriginById(id) { this.selected = id; } };
  const handler = new Function('cf', code.slice(IMPORT.length) + '\nreturn handler;')(cf);
  return { cf, handler, bytes: Buffer.byteLength(code) };
}

// CloudFront's querystring object: names and values as they came, repeated names folded
// into multiValue.
function querystring(query) {
  const qs = {};
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const at = piece.indexOf('=');
    const name = at < 0 ? piece : piece.slice(0, at);
    const value = at < 0 ? '' : piece.slice(at + 1);
    if (!(name in qs)) qs[name] = { value };
    else {
      if (!qs[name].multiValue) qs[name].multiValue = [{ value: qs[name].value }];
      qs[name].multiValue.push({ value });
    }
  }
  return qs;
}

// One viewer request through the function, as CloudFront builds it.
function run(fn, url, accept) {
  const q = url.indexOf('?');
  const event = {
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: '192.0.2.1' },
    request: {
      method: 'GET',
      uri: q < 0 ? url : url.slice(0, q),
      querystring: querystring(q < 0 ? '' : url.slice(q + 1)),
      headers: accept === null ? {} : { accept: { value: accept } },
      cookies: {},
    },
  };
  fn.cf.selected = null;
  return fn.handler(event);
}

const failures = [];
let checked = 0;
for (const pair of pairs) {
  const [policy, file] = pair.split('=');
  const fn = load(file);
  console.log(`${policy}: ${fn.bytes} bytes of function code`);
  for (const v of doc.vectors.filter((v) => v.policy === policy)) {
    let out;
    try {
      out = run(fn, v.url, v.accept);
    } catch (e) {
      failures.push(`${policy} ${v.url}: threw ${e}`);
      continue;
    }
    checked++;
    const why = [];
    if (v.uri !== undefined) {
      if (out.statusCode !== undefined) why.push(`answered ${out.statusCode}: ${out.body}`);
      else {
        if (out.uri !== v.uri) why.push(`uri ${out.uri}, want ${v.uri}`);
        if (Object.keys(out.querystring).length !== 0) why.push('query string not cleared');
        const origin = v.route === 'original' ? 'originals' : null;
        if (fn.cf.selected !== origin) why.push(`origin ${fn.cf.selected}, want ${origin}`);
        // The handler's 302 for an oversize output names this URL; asked again with the same
        // Accept, it must reach the same variant (the canonical URI would not).
        const viewer = out.headers['x-imgflex-url'];
        if (v.route === 'original') {
          if (viewer !== undefined) why.push('x-imgflex-url set for an original');
        } else if (viewer === undefined) why.push('x-imgflex-url not set');
        else {
          const again = run(fn, viewer.value, v.accept);
          if (again.uri !== v.uri) why.push(`x-imgflex-url ${viewer.value} routes to ${again.uri}`);
        }
      }
    } else {
      const param = out.headers && out.headers['x-imgflex-param'] ? out.headers['x-imgflex-param'].value : null;
      if (out.statusCode !== v.status) why.push(`status ${out.statusCode} (uri ${out.uri}), want ${v.status}`);
      if (param !== v.param) why.push(`param ${param}, want ${v.param}`);
    }
    if (why.length > 0) failures.push(`${policy} ${v.url} (${v.note}): ${why.join('; ')}`);
  }
}
const expected = doc.vectors.filter((v) => pairs.some((p) => p.split('=')[0] === v.policy)).length;
console.log(`${checked} of ${expected} vectors checked, ${failures.length} failed`);
if (failures.length > 0 || checked !== expected) {
  console.log(failures.join('\n'));
  process.exit(1);
}
