#!/usr/bin/env node
// AVIF input, both sides: writes every corpus image as an AVIF (sharp's defaults: quality
// 50, 4:2:0, 8-bit, effort 4; untimed) into AVIF_DIR, then times sharp's thumb, card and
// decode-only on those files. `imgflex bench --corpus AVIF_DIR --ops thumb,card,decode-only`
// times imgflex on the same bytes, and ../shared/bench/compare.py pairs the rows.
// Same method as ../shared/bench/sharp_bench.js (timing.js here): single-threaded (sharp.concurrency(1),
// UV_THREADPOOL_SIZE=1), no operation cache, input in memory, median of REPS after one
// warm-up. sharp decodes AVIF with libheif (aom's decoder in its prebuilt libvips).
//
//   UV_THREADPOOL_SIZE=1 node tools/bench/sharp-avif-in.js SHARP_DIR CORPUS AVIF_DIR [REPS] > sharp-avif-in.json
//
// SHARP_DIR is a folder whose node_modules has sharp (../shared/bench after `npm ci`).
'use strict';
const fs = require('fs');
const path = require('path');
const [sharpDir, corpus, avifDir, repsArg] = process.argv.slice(2);
if (!sharpDir || !corpus || !avifDir) {
  console.error('usage: sharp-avif-in.js SHARP_DIR CORPUS AVIF_DIR [REPS]');
  process.exit(2);
}
const { loadSharp, timed } = require('./timing');
const sharp = loadSharp(sharpDir);
const reps = parseInt(repsArg || '7', 10);

// The ops of ../shared/bench/README.md that read the whole source (imgflex's queries in
// cli/src/commands/bench.rs), on an AVIF original.
const OPS = {
  thumb: (buf) => sharp(buf).resize({ width: 300 }).jpeg({ quality: 80 }),
  card: (buf) => sharp(buf).resize({ width: 800, height: 600, fit: 'cover' }).webp({ quality: 75 }),
  'decode-only': (buf) => sharp(buf).raw(),
};

(async () => {
  fs.mkdirSync(avifDir, { recursive: true });
  const rows = [];
  for (const name of fs.readdirSync(corpus).filter((n) => /\.(jpe?g|png|webp|gif)$/i.test(n)).sort()) {
    // `name-WxH.ext` becomes `name-WxH.avif`: imgflex's tests read sizes from names.
    const avifName = name.replace(/\.[^.]+$/, '.avif');
    const target = path.join(avifDir, avifName);
    if (!fs.existsSync(target)) {
      await sharp(fs.readFileSync(path.join(corpus, name)), { animated: false }).avif().toFile(target);
    }
    const buf = fs.readFileSync(target);
    for (const [op, pipeline] of Object.entries(OPS)) {
      const { out, medianMs } = await timed(() => pipeline(buf).toBuffer({ resolveWithObject: true }), reps);
      rows.push({
        image: avifName, op, median_ms: medianMs, out_bytes: out.data.length,
        out_w: out.info.width, out_h: out.info.height,
      });
      console.error(avifName, op, rows[rows.length - 1].median_ms.toFixed(1), 'ms');
    }
  }
  process.stdout.write(JSON.stringify({ rows }, null, 1) + '\n');
})();
