// What every sharp-*.js here shares with ../shared/bench/sharp_bench.js's method: sharp
// loaded from SHARP_DIR, single-threaded (sharp.concurrency(1); run with
// UV_THREADPOOL_SIZE=1), no operation cache (a fresh Lambda request has none), and a cell's
// time as the median of REPS runs after one untimed warm-up, input already in memory.
'use strict';
const path = require('path');

// sharp from SHARP_DIR's node_modules (../shared/bench after `npm ci`), set up to time.
function loadSharp(sharpDir) {
  let sharp;
  try {
    sharp = require(path.resolve(sharpDir, 'node_modules', 'sharp'));
  } catch (e) {
    console.error(`no sharp under ${sharpDir}/node_modules: run \`npm ci\` there (${e.code || e.message})`);
    process.exit(2);
  }
  sharp.concurrency(1);
  sharp.cache(false);
  return sharp;
}

// Runs `run` (a function returning a promise) once untimed, then `reps` times; resolves to
// the last output and the median wall time in ms.
async function timed(run, reps) {
  let out = await run();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    out = await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { out, medianMs: times[times.length >> 1] };
}

module.exports = { loadSharp, timed };
