// Interoperability check: a switchboard server used from a real browser. Headless
// Chromium (driven by playwright-core) opens chromium_page.html from a local HTTP
// server; the page's script connects with the browser's WebSocket and ?token=carol,
// subscribes, and checks what arrives. A Node `ws` client, dave, publishes a JSON and
// a binary message once the page is subscribed. The page's checks and dave's are
// printed one per line, then "N passed, M failed"; exits 0 only when nothing failed.
//
// Usage: node chromium_client.mjs [--chromium PATH] [--ca FILE] ws://HOST:PORT|wss://HOST:PORT [PATH]
//
// With a wss:// URL, --ca names the server's self-signed certificate. dave trusts it
// as his only CA; Chromium is told to accept exactly that certificate's public key
// (--ignore-certificate-errors-spki-list with its SPKI hash), nothing else.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import {
  Connection, Failure, Results, SUBPROTOCOL, STEP_MS,
  binaryPublish, expectWelcome, jsonEqual, packageVersion, parseCommandLine, withDeadline,
} from './interop_lib.mjs';

const { base, ca, values } = parseCommandLine(
  'usage: node chromium_client.mjs [--chromium PATH] [--ca FILE] ws://HOST:PORT|wss://HOST:PORT [PATH]',
  { chromium: { type: 'string', default: '/usr/bin/chromium' } });

const PAGE = readFileSync(new URL('./chromium_page.html', import.meta.url));
const LAUNCH_MS = 60_000; // a cold browser start on a busy machine can be slow

/** base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium wants it. */
function spkiHash(pem) {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Serves the test page on a free loopback port; resolves with the server. */
function servePage() {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    } else if (pathname === '/favicon.ico') {
      res.writeHead(204).end(); // keeps a 404 for the browser's own request out of the log
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Waits until the page's window.interop.phase is one of `phases`; returns it. */
async function pagePhase(page, phases, ms) {
  const handle = await page.waitForFunction(
    (wanted) => window.interop && wanted.includes(window.interop.phase) && window.interop.phase,
    phases, { timeout: ms, polling: 50 });
  return handle.jsonValue();
}

async function run(r, log) {
  const pageServer = await servePage();
  let browser;
  let dave;
  try {
    const args = [];
    if (ca) args.push(`--ignore-certificate-errors-spki-list=${spkiHash(ca)}`);
    browser = await chromium.launch({
      executablePath: values.chromium, headless: true, args, timeout: LAUNCH_MS,
    });
    log.push(`browser ${browser.version()}`);
    console.log(`chromium ${browser.version()}, playwright-core ${packageVersion('playwright-core')}`);
    const page = await browser.newPage();
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`page error: ${e.stack ?? e}`));

    const { port } = pageServer.address();
    const target = `${base}?token=carol`;
    await page.goto(`http://127.0.0.1:${port}/?server=${encodeURIComponent(target)}`,
      { timeout: STEP_MS * 3 });

    // The page connects and subscribes on its own; dave joins meanwhile.
    const daveOpens = await r.step('dave (Node ws) connects with ?token=dave and gets welcome', async () => {
      dave = await Connection.open(`${base}?token=dave`, { protocols: [SUBPROTOCOL], ca });
      return expectWelcome(dave, 'dave');
    });

    let phase;
    try {
      phase = await pagePhase(page, ['subscribed', 'done'], STEP_MS * 4);
    } catch (e) {
      throw new Failure(`the page did not subscribe: ${e.message.split('\n')[0]}`);
    }

    if (daveOpens && phase === 'subscribed') {
      const plan = await page.evaluate(() => window.interop.plan);
      await r.step(`dave publishes JSON on ${plan.topic} -> ack {seq:1, recipients:1} (the browser)`,
        async () => {
          await dave.send(plan.publishText);
          const { raw, obj } = await dave.nextText();
          return [jsonEqual(obj, { type: 'ack', id: 'p1', data: { seq: 1, recipients: 1 } }), raw];
        });
      await r.step('dave publishes a binary envelope, then ping -> pong (no reply to the binary)',
        async () => {
          await dave.send(binaryPublish(plan.topic, Buffer.from(plan.binaryPayloadHex, 'hex')));
          await dave.send('{"type":"ping","id":"d1"}');
          const { raw, obj } = await dave.nextText();
          return [jsonEqual(obj, { type: 'pong', id: 'd1' }), raw];
        });
      await r.step('dave closes with 1000 and gets 1000', async () => {
        const closed = await dave.close(1000, 'done');
        return [closed.code === 1000, `close code ${closed.code}`];
      });
      dave = undefined;
    }

    try {
      await pagePhase(page, ['done'], STEP_MS * 6);
    } catch (e) {
      r.check('the page finished its checks', false, e.message.split('\n')[0]);
    }
    const checks = await page.evaluate(() => window.interop.checks);
    if (checks.length === 0) r.check('the page reported checks', false, 'none');
    for (const c of checks) r.check(`browser: ${c.name}`, c.ok, c.detail);
  } finally {
    dave?.terminate();
    await browser?.close().catch(() => {});
    pageServer.close();
  }
}

const r = new Results();
const log = [];
console.log(`node ${process.version}, ws ${packageVersion('ws')}, server ${base}`);
try {
  await withDeadline(run(r, log), 110_000, 'the whole run');
} catch (e) {
  r.check('the run finished', false, e instanceof Failure ? e.message : e?.stack);
}
if (r.failed > 0 && log.length > 0) {
  console.log('--- browser log ---');
  for (const line of log) console.log(line);
}
process.exit(r.summary());
