#!/usr/bin/env node
// sharp's side of imgflex bench's `smart` op: card (800x600 cover, WebP q75) with the crop
// placed by libvips' attention strategy, as `imgflex bench --ops smart` runs it with g=auto.
// Same method as ../shared/bench/sharp_bench.js (timing.js here): single-threaded (sharp.concurrency(1),
// UV_THREADPOOL_SIZE=1), no operation cache, input in memory, median of REPS after one
// warm-up. Each row also carries the window libvips chose (cropOffsetLeft/Top, in the
// resized image), which tools/bench/smart-iou.py compares with imgflex's windows.
//
//   UV_THREADPOOL_SIZE=1 node tools/bench/sharp-smart.js SHARP_DIR CORPUS [REPS] > sharp-smart.json
//
// SHARP_DIR is a folder whose node_modules has sharp (../shared/bench after `npm ci`).
'use strict';
const fs = require('fs');
const path = require('path');
const [sharpDir, corpus, repsArg] = process.argv.slice(2);
if (!sharpDir || !corpus) {
  console.error('usage: sharp-smart.js SHARP_DIR CORPUS [REPS]');
  process.exit(2);
}
const { loadSharp, timed } = require('./timing');
const sharp = loadSharp(sharpDir);
const reps = parseInt(repsArg || '9', 10);

function run(buf) {
  return sharp(buf)
    .resize({ width: 800, height: 600, fit: 'cover', position: 'attention' })
    .webp({ quality: 75 })
    .toBuffer({ resolveWithObject: true });
}

(async () => {
  const rows = [];
  for (const name of fs.readdirSync(corpus).filter((n) => /\.(jpe?g|png|webp|gif)$/i.test(n)).sort()) {
    const buf = fs.readFileSync(path.join(corpus, name));
    const { out, medianMs } = await timed(() => run(buf), reps);
    const info = out.info;
    // sharp reports the offsets as the negated position of the window.
    const left = Math.abs(info.cropOffsetLeft || 0), top = Math.abs(info.cropOffsetTop || 0);
    rows.push({
      image: name, op: 'smart', median_ms: medianMs, out_bytes: out.data.length,
      out_w: info.width, out_h: info.height, window: [left, top, info.width, info.height],
    });
    console.error(name, rows[rows.length - 1].median_ms.toFixed(1), 'ms', rows[rows.length - 1].window);
  }
  process.stdout.write(JSON.stringify({ rows }, null, 1) + '\n');
})();
