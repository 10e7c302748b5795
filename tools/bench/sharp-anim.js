#!/usr/bin/env node
// sharp's side of imgflex bench's `anim` op: every frame of an animated GIF or WebP kept,
// resized to 400 wide (enlarging, sharp's default) and written as an animated WebP q75, as
// `imgflex bench --ops anim` runs `w=400&fm=webp&q=75&anim=1&enlarge=1`. Stills are skipped,
// as the bench skips them. Same method as ../shared/bench/sharp_bench.js (timing.js here): single-threaded
// (sharp.concurrency(1), UV_THREADPOOL_SIZE=1), no operation cache, input in memory, median
// of REPS after one warm-up. With OUT_DIR, each output is written as NAME.anim.webp, the
// name `imgflex bench --reference OUT_DIR` compares with (the mean SSIM of the frames).
//
//   UV_THREADPOOL_SIZE=1 node tools/bench/sharp-anim.js SHARP_DIR CORPUS [REPS [OUT_DIR]] > sharp-anim.json
//
// SHARP_DIR is a folder whose node_modules has sharp (../shared/bench after `npm ci`).
// The corpus has one animation (notime, 14x25); tools/bench/make-anim.js makes two of a
// photo's size.
'use strict';
const fs = require('fs');
const path = require('path');
const [sharpDir, corpus, repsArg, outDir] = process.argv.slice(2);
if (!sharpDir || !corpus) {
  console.error('usage: sharp-anim.js SHARP_DIR CORPUS [REPS [OUT_DIR]]');
  process.exit(2);
}
const { loadSharp, timed } = require('./timing');
const sharp = loadSharp(sharpDir);
const reps = parseInt(repsArg || '9', 10);

function run(buf) {
  return sharp(buf, { animated: true })
    .resize({ width: 400 })
    .webp({ quality: 75 })
    .toBuffer({ resolveWithObject: true });
}

(async () => {
  const rows = [];
  for (const name of fs.readdirSync(corpus).filter((n) => /\.(gif|webp)$/i.test(n)).sort()) {
    const buf = fs.readFileSync(path.join(corpus, name));
    const pages = (await sharp(buf).metadata()).pages || 1;
    if (pages < 2) continue;
    const { out, medianMs } = await timed(() => run(buf), reps);
    const info = out.info;
    if (outDir) fs.writeFileSync(path.join(outDir, `${name}.anim.webp`), out.data);
    rows.push({
      image: name, op: 'anim', median_ms: medianMs, out_bytes: out.data.length,
      // An animation's height is its stacked pages' in libvips: one frame's is pageHeight.
      out_w: info.width, out_h: info.pageHeight || info.height, frames: info.pages || pages,
    });
    console.error(name, rows[rows.length - 1].median_ms.toFixed(1), 'ms', out.data.length, 'bytes');
  }
  process.stdout.write(JSON.stringify({ rows }, null, 1) + '\n');
})();
