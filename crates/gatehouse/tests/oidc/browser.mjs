// A scripted "browser" for gatehouse's login tests (Node 20, built-in fetch):
//
//   node browser.mjs URL ACCOUNT [--tamper-state] [--abort]
//
// opens URL with a cookie jar, follows redirects by hand, and on each HTML page submits its
// first form (filling `login` with ACCOUNT) — the provider's sign-in page, and for the device
// flow its user-code and confirmation forms — until a page without a form: the CLI's loopback
// callback page ("you can close this tab") or the provider's device sign-in success page.
// --tamper-state changes the `state` of an authorization URL first, as a forged answer would
// carry. --abort declines at the device flow's confirmation form instead of confirming.
// Prints each step to stderr; exits non-zero when a step fails.
const [url, account, ...flags] = process.argv.slice(2);
if (!url || !account) {
  console.error('usage: node browser.mjs URL ACCOUNT [--tamper-state] [--abort]');
  process.exit(2);
}

const jar = new Map();

function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';');
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    const expired = attributes.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

async function request(target, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const response = await fetch(target, { ...init, headers, redirect: 'manual' });
  remember(response);
  console.error(`browser: ${init.method ?? 'GET'} ${target} -> ${response.status}`);
  return response;
}

function firstForm(html) {
  const form = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
  if (!form) return undefined;
  const attribute = (text, name) => text.match(new RegExp(`\\b${name}="([^"]*)"`, 'i'))?.[1];
  const fields = new URLSearchParams();
  for (const input of form[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = attribute(input[1], 'name');
    if (!name) continue;
    fields.set(name, name === 'login' ? account : (attribute(input[1], 'value') ?? ''));
  }
  return {
    action: attribute(form[1], 'action'),
    method: (attribute(form[1], 'method') ?? 'get').toUpperCase(),
    fields,
  };
}

let next = new URL(url);
if (flags.includes('--tamper-state')) next.searchParams.set('state', 'forged-state');
let init = {};
let aborted = false;
for (let step = 0; step < 30; step += 1) {
  const response = await request(next.href, init);
  init = {};
  if ([301, 302, 303, 307, 308].includes(response.status)) {
    next = new URL(response.headers.get('location'), next);
    continue;
  }
  const body = await response.text();
  if (response.status >= 400) {
    console.error(`browser: HTTP ${response.status}: ${body.slice(0, 500)}`);
    process.exit(1);
  }
  const form = firstForm(body);
  if (!form || aborted) {
    console.error(`browser: done: ${body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)}`);
    process.exit(0);
  }
  const action = new URL(form.action ?? next.href, next);
  if (flags.includes('--abort') && form.fields.has('confirm')) {
    form.fields.set('abort', 'yes');
    aborted = true;
  }
  if (form.method === 'POST') {
    next = action;
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.fields.toString(),
    };
  } else {
    for (const [k, v] of form.fields) action.searchParams.set(k, v);
    next = action;
  }
}
console.error('browser: too many steps');
process.exit(1);
