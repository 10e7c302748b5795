// Minifies templates/edge-function.js into templates/edge-function.min.js, which the CLI
// embeds. CloudFront Functions allow 10 KB of code and the policy is compiled in, so every
// byte of the grammar saved is room for presets. Output stays ES5.1 with the import first,
// as CloudFront's JS runtime 2.0 wants.
//
//   node tools/edge/minify.mjs          write the minified file
//   node tools/edge/minify.mjs --check  exit 1 if the committed file is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = join(root, 'templates', 'edge-function.js');
const target = join(root, 'templates', 'edge-function.min.js');

const result = await minify(readFileSync(source, 'utf8'), {
  module: false,
  ecma: 5,
  // `toplevel` lets terser inline the helpers used once; `handler` is retained because only
  // CloudFront calls it. `hoist_vars` gathers each function's `var`s into one statement (the
  // same semantics: `var` is hoisted anyway) and saves about 60 bytes; it also puts the
  // top-level `var` before the imports, which are moved back below.
  compress: { toplevel: true, top_retain: ['handler'], passes: 3, hoist_vars: true },
  // `handler` is what CloudFront calls and `cf` the imported module: both keep their names;
  // every other top-level name is shortened. The policy slot is replaced by `imgflex render`.
  // The function's own objects' properties are shortened too (never CloudFront's: `uri`,
  // `headers`, `value`, `querystring`; nor the policy's, which Rust writes).
  mangle: {
    toplevel: true,
    reserved: ['handler', 'cf', 'crypto'],
    properties: { regex: /^(param|message|status|form|pieces|original|tokens|key)$/ },
  },
  format: { comments: false, ecma: 5 },
});
// Imports are hoisted by the module semantics wherever they stand, so moving them to the front
// changes nothing but what CloudFront checks: its runtime wants them first.
const imports = 'import cf from"cloudfront";import crypto from"crypto";';
const code = (result.code.includes(imports) ? imports + result.code.replace(imports, '') : result.code) + '\n';
if (!code.includes('__IMGFLEX_POLICY__') || !code.startsWith('import cf from"cloudfront";import crypto from"crypto";')) {
  console.error('minified code lost the policy slot or the leading import');
  process.exit(1);
}
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== code) {
    console.error('templates/edge-function.min.js is stale: run `node tools/edge/minify.mjs`');
    process.exit(1);
  }
  console.log(`edge-function.min.js is up to date (${Buffer.byteLength(code)} bytes)`);
} else {
  writeFileSync(target, code);
  console.log(`wrote ${target} (${Buffer.byteLength(code)} bytes)`);
}
