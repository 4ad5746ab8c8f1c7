// The dashboard in a real browser: starts pubsub_server (which serves the dashboard at
// /), connects test clients with Node `ws`, opens the page in headless Chromium
// (driven by playwright-core) and checks what it shows: the connection count, a
// publish rate that moves while a client publishes, the busiest topic, a rate-limit
// event, and the console (a publish from the page reaches a test client; a
// subscription on the page shows a client's publish). Saves a screenshot. Prints one
// line per check, then "N passed, M failed"; exits 0 only when nothing failed.
//
// Usage: node dashboard_chromium.mjs [--chromium PATH] [--screenshot FILE [--screenshot-samples N]]
//        PATH/TO/pubsub_server
//
// Every wait is for an event, with a generous deadline: nothing depends on how fast
// the machine is.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Connection, Failure, Results, SUBPROTOCOL, STEP_MS, expectWelcome, packageVersion, withDeadline }
  from './interop_lib.mjs';

const usage = 'usage: node dashboard_chromium.mjs [--chromium PATH] [--screenshot FILE [--screenshot-samples N]] ' +
  'PATH/TO/pubsub_server';
const { values, positionals } = parseArgs({
  options: {
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    screenshot: { type: 'string' },
    // Samples the page must have drawn before the screenshot (a longer run draws more).
    'screenshot-samples': { type: 'string', default: '10' },
  },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  console.error(usage);
  process.exit(2);
}
const serverPath = positionals[0];

const LAUNCH_MS = 60_000;  // a cold browser start on a busy machine can be slow
const WAIT_MS = 30_000;    // for anything the page shows: stats arrive once a second
const TEST_CLIENTS = 3;
const LOAD_TOPIC = 'load.ticks';
const CONSOLE_TOPIC = 'dash.console';
const ECHO_TOPIC = 'dash.echo';

/** Starts pubsub_server on a free port; resolves with {child, base, exited}. */
function startServer() {
  // A low rate limit, so that a burst from one client makes a visible rate-limit event.
  const child = spawn(serverPath, ['--bind', '127.0.0.1', '--port', '0', '--rate-limit', '100', '--rate-burst', '200'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => { output.stdout += d; });
  child.stderr.on('data', (d) => { output.stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const base = new Promise((resolve, reject) => {
    const look = () => {
      const found = /ws:\/\/[^/\s]+/.exec(output.stdout);
      if (found) resolve(found[0]);
    };
    child.stdout.on('data', look);
    exited.then(({ code, signal }) =>
      reject(new Failure(`pubsub_server exited (${code ?? signal}) before announcing its address: ${output.stderr}`)));
  });
  return { child, output, exited, base: withDeadline(base, 10_000, 'pubsub_server announcing its address') };
}

/** The page's visible text of element `id`. */
function textOf(page, id) {
  return page.locator(`#${id}`).innerText();
}

/** Waits until `predicate(window)` holds in the page; returns its value. */
async function pageWait(page, what, fn, arg) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Failure(`${what}: not within ${WAIT_MS / 1000} s (${e.message.split('\n')[0]})`);
  }
}

/** Resolves with the first message on `topic` that `conn` receives. */
async function nextMessageOn(conn, topic) {
  for (;;) {
    const { obj } = await conn.nextText();
    if (obj?.type === 'message' && obj.topic === topic) return obj;
  }
}

async function run(r, server, log) {
  const base = await server.base;
  const http = base.replace(/^ws:/, 'http:');
  console.log(`server at ${base}`);
  const clients = [];
  let browser;
  let publishing;
  try {
    await r.step('GET / answers the page: 200, text/html', async () => {
      const response = await fetch(`${http}/`);
      const body = await response.text();
      return [response.status === 200 && response.headers.get('content-type').startsWith('text/html') &&
        body.includes('switchboard dashboard'), `${response.status} ${response.headers.get('content-type')}`];
    });

    for (let i = 0; i < TEST_CLIENTS; i += 1) {
      const user = `client${i + 1}`;
      await r.step(`${user} (Node ws) connects and gets welcome`, async () => {
        const conn = await Connection.open(`${base}/ws?token=${user}`, { protocols: [SUBPROTOCOL] });
        clients.push(conn);
        return expectWelcome(conn, user);
      });
    }
    const [publisher, listener, echoer] = clients;
    await r.step(`client2 subscribes to ${LOAD_TOPIC} and ${CONSOLE_TOPIC}`, async () => {
      await listener.send(JSON.stringify({ type: 'subscribe', id: 's', topics: [LOAD_TOPIC, CONSOLE_TOPIC] }));
      const { obj, raw } = await listener.nextText();
      return [obj.type === 'ack' && obj.id === 's', raw];
    });

    browser = await chromium.launch({ executablePath: values.chromium, headless: true, timeout: LAUNCH_MS });
    console.log(`chromium ${browser.version()}, playwright-core ${packageVersion('playwright-core')}`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`page error: ${e.stack ?? e}`));
    await page.goto(`${http}/?token=operator`, { timeout: STEP_MS * 3 });

    await r.step('the page connects and reads system.stats (status "live")', async () => {
      const state = await pageWait(page, 'status live',
        () => document.getElementById('status').dataset.state === 'live' && 'live');
      return [state === 'live', state];
    });
    await r.step('the token left the address bar', async () => [!page.url().includes('token='), page.url()]);

    const expected = TEST_CLIENTS + 1;  // the page's own connection counts too
    await r.step(`the page shows ${expected} connections (${TEST_CLIENTS} clients and itself)`, async () => {
      await pageWait(page, `connections = ${expected}`,
        (n) => document.getElementById('connections').textContent === String(n), expected);
      return [await textOf(page, 'connections') === String(expected), await textOf(page, 'connections')];
    });

    // client1 publishes until the end, 20 to 60 times a second in steps of a few
    // seconds (so that the chart has a shape); client2 receives them.
    let published = 0;
    let ticks = 0;
    publishing = setInterval(() => {
      ticks += 1;
      const burst = 1 + (Math.floor(ticks / 60) % 3);
      for (let i = 0; i < burst; i += 1) {
        published += 1;
        publisher.send(JSON.stringify({ type: 'publish', topic: LOAD_TOPIC, data: { n: published } })).catch(() => {});
      }
    }, 50);

    await r.step('the publish rate moves above 0 while client1 publishes', async () => {
      const shown = await pageWait(page, 'a publish rate above 0', () => {
        const value = Number(document.getElementById('publish-rate').textContent);
        return value > 0 && value;
      });
      return [shown > 0, `${shown}/s`];
    });
    await r.step('the delivery rate moves above 0 (client2 receives them)', async () => {
      const shown = await pageWait(page, 'a delivery rate above 0', () => {
        const value = Number(document.getElementById('delivery-rate').textContent);
        return value > 0 && value;
      });
      return [shown > 0, `${shown}/s`];
    });
    await r.step(`${LOAD_TOPIC} is the top topic`, async () => {
      const top = await pageWait(page, `${LOAD_TOPIC} first among the top topics`, (topic) => {
        const cell = document.querySelector('#top-topics td.topic');
        return cell?.textContent === topic && cell.textContent;
      }, LOAD_TOPIC);
      return [top === LOAD_TOPIC, top];
    });
    await r.step('the rates chart has points from several samples', async () => {
      const samples = await pageWait(page, 'three samples', () => window.dashboard.samples >= 3 && window.dashboard.samples);
      return [samples >= 3, `${samples} samples`];
    });

    await r.step('a burst from client3 past its rate limit shows as an event', async () => {
      const burst = Array.from({ length: 400 }, (_, i) => JSON.stringify({ type: 'ping', id: `b${i}` }));
      for (const frame of burst) await echoer.send(frame);
      const shown = await pageWait(page, 'a rate-limit event', () => {
        const count = Number(document.getElementById('rate-limited').textContent);
        const event = document.querySelector('#events li:not(.empty)');
        return count > 0 && event !== null && count;
      });
      return [shown > 0, `${shown} rate-limited`];
    });
    echoer.terminate();
    clients.splice(clients.indexOf(echoer), 1);
    const afterBurst = TEST_CLIENTS;  // client3 left, the page stays
    await r.step(`the page shows ${afterBurst} connections once client3 left`, async () => {
      await pageWait(page, `connections = ${afterBurst}`,
        (n) => document.getElementById('connections').textContent === String(n), afterBurst);
      return [true, ''];
    });

    await r.step(`the console publishes on ${CONSOLE_TOPIC} and client2 receives it`, async () => {
      const received = nextMessageOn(listener, CONSOLE_TOPIC);
      await page.fill('#console-topic', CONSOLE_TOPIC);
      await page.fill('#console-data', '{"text":"from the dashboard"}');
      await page.click('#console-publish');
      const message = await withDeadline(received, WAIT_MS, `client2 receiving the console's publish`);
      await pageWait(page, 'the console logging the publish',
        (topic) => document.getElementById('console-log').textContent.includes(`published on ${topic}`), CONSOLE_TOPIC);
      return [message.data?.text === 'from the dashboard' && message.from === 'operator', JSON.stringify(message)];
    });

    await r.step(`the console subscribes to ${ECHO_TOPIC} and shows client1's publish there`, async () => {
      await page.fill('#console-subscribe-topic', ECHO_TOPIC);
      await page.click('#console-subscribe');
      await pageWait(page, 'the console confirming the subscription',
        (topic) => document.getElementById('console-log').textContent.includes(`subscribed to ${topic}`), ECHO_TOPIC);
      await publisher.send(JSON.stringify({ type: 'publish', topic: ECHO_TOPIC, data: { hello: 'page' } }));
      const line = await pageWait(page, 'the message in the console log', (topic) => {
        const lines = [...document.querySelectorAll('#console-log .in')].map((l) => l.textContent);
        return lines.find((l) => l.includes(topic) && l.includes('"hello":"page"')) ?? false;
      }, ECHO_TOPIC);
      return [line.includes('from client1'), line];
    });

    if (values.screenshot) {
      await r.step(`screenshot saved to ${values.screenshot}`, async () => {
        // A few more samples, so that the charts show the traffic as lines.
        const wanted = Number(values['screenshot-samples']);
        await page.waitForFunction((n) => window.dashboard.samples >= n, wanted,
          { timeout: WAIT_MS + wanted * 2000, polling: 100 });
        mkdirSync(dirname(values.screenshot), { recursive: true });
        await page.screenshot({ path: values.screenshot, fullPage: true });
        return [true, ''];
      });
    }
  } finally {
    clearInterval(publishing);
    for (const c of clients) c.terminate();
    await browser?.close().catch(() => {});
  }
}

const r = new Results();
const log = [];
console.log(`node ${process.version}, ws ${packageVersion('ws')}`);
const server = startServer();
try {
  await withDeadline(run(r, server, log), 150_000, 'the whole run');
} catch (e) {
  r.check('the run finished', false, e instanceof Failure ? e.message : e?.stack);
}
// SIGTERM must stop the stats publisher with the server: the process exits 0.
server.child.kill('SIGTERM');
try {
  const { code, signal } = await withDeadline(server.exited, 10_000, 'pubsub_server exiting after SIGTERM');
  r.check('pubsub_server exits 0 after SIGTERM', code === 0, `code ${code}, signal ${signal}`);
} catch (e) {
  server.child.kill('SIGKILL');
  r.check('pubsub_server exits 0 after SIGTERM', false, e.message);
}
if (r.failed > 0) {
  console.log('--- server stderr ---');
  console.log(server.output.stderr);
  if (log.length > 0) {
    console.log('--- browser log ---');
    for (const line of log) console.log(line);
  }
}
process.exit(r.summary());
