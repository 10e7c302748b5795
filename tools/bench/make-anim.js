#!/usr/bin/env node
// Animations of a photo's size for the `anim` op, made from the corpus (which has only
// notime, 14x25): a camera pan across storm, 24 frames of 640x360 at 80 ms, as a GIF
// (sharp's cgif, 256-colour palette per frame, dithered: what a screen-capture or
// converted-video GIF is) and as a lossy animated WebP q80. Deterministic for one sharp.
//
//   node tools/bench/make-anim.js SHARP_DIR CORPUS OUT_DIR
//
// Then: imgflex bench --corpus OUT_DIR --ops anim; sharp-anim.js SHARP_DIR OUT_DIR.
'use strict';
const fs = require('fs');
const path = require('path');
const [sharpDir, corpus, outDir] = process.argv.slice(2);
if (!sharpDir || !corpus || !outDir) {
  console.error('usage: make-anim.js SHARP_DIR CORPUS OUT_DIR');
  process.exit(2);
}
const sharp = require(path.resolve(sharpDir, 'node_modules', 'sharp'));
const FRAMES = 24, W = 640, H = 360, DELAY = 80;

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const wide = await sharp(path.join(corpus, 'storm-1920x1280.jpg')).resize({ width: 1280 }).toBuffer();
  const { height } = await sharp(wide).metadata();
  const top = Math.round((height - H) / 2);
  const frames = [];
  for (let i = 0; i < FRAMES; i++) {
    const left = Math.round((i * (1280 - W)) / (FRAMES - 1));
    frames.push(await sharp(wide).extract({ left, top, width: W, height: H }).png().toBuffer());
  }
  const join = { join: { animated: true } };
  const delay = Array(FRAMES).fill(DELAY);
  const gif = `pan-${W}x${H}.gif`, webp = `pan-${W}x${H}.webp`;
  await sharp(frames, join).gif({ delay, loop: 0 }).toFile(path.join(outDir, gif));
  await sharp(frames, join).webp({ delay, loop: 0, quality: 80 }).toFile(path.join(outDir, webp));
  fs.copyFileSync(path.join(corpus, 'notime-14x25.gif'), path.join(outDir, 'notime-14x25.gif'));
  for (const n of [gif, webp]) console.error(n, fs.statSync(path.join(outDir, n)).size, 'bytes');
})();
