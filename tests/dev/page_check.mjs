// Drives headless Chromium through imgflex dev's page: load `/`, wait for the first variant,
// type a new width into the width field, and report the image the page shows before and
// after, how the panes lay it out, and a screenshot; then ask for a width the policy refuses
// and report what the page says. The DevTools protocol runs over a pipe
// (--remote-debugging-pipe: JSON messages separated by NUL on file descriptors 3 and 4), so
// no WebSocket client is needed.
//
//   node tests/dev/page_check.mjs CHROMIUM http://127.0.0.1:PORT/ NEW_WIDTH [SCREENSHOTS_DIR]
//
// Prints one JSON line {before, after, layout, refused}; exits non-zero with a message on
// any failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [, , chromium, pageUrl, width, screenshots] = process.argv;
if (!chromium || !pageUrl || !width) {
  console.error('usage: page_check.mjs CHROMIUM URL NEW_WIDTH');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'imgflex-chromium-'));
const browser = spawn(
  chromium,
  [
    '--headless',
    '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start
    '--disable-gpu',
    '--no-first-run',
    '--window-size=1400,1000',
    '--hide-scrollbars',
    '--remote-debugging-pipe',
    `--user-data-dir=${profile}`,
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
);
let browserLog = '';
browser.stderr.on('data', (d) => { browserLog += d; });

function finish(code, message) {
  if (message) console.error(message);
  browser.kill('SIGKILL');
  try { rmSync(profile, { recursive: true, force: true }); } catch { /* best effort */ }
  process.exit(code);
}
browser.on('exit', (code) => finish(1, `chromium exited early (${code}):\n${browserLog.slice(-2000)}`));
const deadline = setTimeout(() => finish(1, 'timed out after 90 s'), 90_000);

const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
let nextId = 0;
const pending = new Map();
const listeners = new Set();
let buffer = '';
fromBrowser.setEncoding('utf8');
fromBrowser.on('data', (chunk) => {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf('\0')) >= 0) {
    const message = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    const waiter = message.id !== undefined && pending.get(message.id);
    if (waiter) {
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
      else waiter.resolve(message.result);
    } else {
      for (const listener of listeners) listener(message);
    }
  }
});

function send(method, params = {}, sessionId = undefined) {
  const message = { id: ++nextId, method, params };
  if (sessionId) message.sessionId = sessionId;
  toBrowser.write(JSON.stringify(message) + '\0');
  return new Promise((resolve, reject) => pending.set(message.id, { resolve, reject, method }));
}

function nextEvent(method, sessionId) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message.method === method && message.sessionId === sessionId) {
        listeners.delete(listener);
        resolve(message.params);
      }
    };
    listeners.add(listener);
  });
}

// What the page shows: the variant's natural size once loaded, the URL it came from, and
// the cache state and srcset snippet next to it.
const shown = `() => {
  const img = document.getElementById('variant');
  if (!img.dataset.url || !img.complete || img.naturalWidth === 0) return null;
  return {
    url: img.dataset.url,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
    cache: document.getElementById('cache').textContent,
    bytes: document.getElementById('bytes').textContent,
    srcset: document.getElementById('srcset').value,
  };
}`;

async function main() {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Page.enable', {}, sessionId);
  await send('Runtime.enable', {}, sessionId);
  const errors = [];
  listeners.add((m) => {
    if (m.method === 'Runtime.exceptionThrown' && m.sessionId === sessionId) {
      errors.push(m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text);
    }
  });
  const loaded = nextEvent('Page.loadEventFired', sessionId);
  await send('Page.navigate', { url: pageUrl }, sessionId);
  await loaded;

  const evaluate = async (expression) => {
    const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
    if (r.exceptionDetails) {
      throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    }
    return r.result.value;
  };
  const waitFor = (condition, what) => evaluate(`new Promise((resolve, reject) => {
    const started = Date.now();
    (function poll() {
      const value = (${condition})();
      if (value) return resolve(value);
      if (Date.now() - started > 60000) return reject(new Error(${JSON.stringify('timed out waiting for ' + what)}));
      setTimeout(poll, 50);
    })();
  })`);

  const before = await waitFor(shown, 'the first variant');
  // Type the new width as a person would: focus the field, clear it, insert the digits.
  await evaluate(`(() => { const w = document.getElementById('w'); w.focus(); w.value = ''; })()`);
  await send('Input.insertText', { text: String(width) }, sessionId);
  const after = await waitFor(
    `() => { const s = (${shown})(); return s && s.url.includes('w=${Number(width)}') ? s : null; }`,
    `the variant at w=${width}`,
  );
  // Wait for the comparison to hold the new variant too.
  await waitFor(`() => {
    const v = document.getElementById('compare-variant');
    return v.complete && v.naturalWidth === ${Number(width)} ? true : null;
  }`, 'the comparison');
  // How it is laid out: the original within its pane, the comparison's two images at one
  // size, the figures beside the variant.
  const layout = await evaluate(`(() => {
    const el = (id) => document.getElementById(id);
    const original = el('original');
    const frame = original.parentElement;
    const under = el('compare-original');
    const over = el('compare-variant');
    return {
      originalWidth: original.clientWidth,
      originalFrameWidth: frame.clientWidth,
      originalNatural: original.naturalWidth,
      scale: el('original-scale').textContent,
      saved: el('saved').textContent,
      cacheControl: el('cache-control').textContent,
      vary: el('vary').textContent,
      compare: [under.clientWidth, under.clientHeight, over.clientWidth, over.clientHeight],
      messageHidden: el('variant-message').hidden,
    };
  })()`);
  const shot = async (name) => {
    if (!screenshots) return;
    const { data } = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
    writeFileSync(join(screenshots, name), Buffer.from(data, 'base64'));
  };
  await shot('page.png');
  // A width over the policy's maximum: the edge's 400, said where the image would be.
  await evaluate(`(() => { const w = document.getElementById('w'); w.focus(); w.value = ''; })()`);
  await send('Input.insertText', { text: '99999' }, sessionId);
  const refused = await waitFor(`() => {
    const m = document.getElementById('variant-message');
    return !m.hidden && m.textContent.startsWith('400') ? { message: m.textContent, broken: !!document.getElementById('variant').getAttribute('src') } : null;
  }`, 'the refusal');
  await shot('refused.png');
  if (errors.length > 0) throw new Error(`the page threw: ${errors.join('; ')}`);
  console.log(JSON.stringify({ before, after, layout, refused }));
}

main().then(
  () => { clearTimeout(deadline); browser.removeAllListeners('exit'); finish(0); },
  (e) => { clearTimeout(deadline); browser.removeAllListeners('exit'); finish(1, `page check failed: ${e.stack ?? e}`); },
);
