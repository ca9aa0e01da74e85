#!/usr/bin/env node
// node-postgres (`pg`, `pg-cursor`, `pg-query-stream`) through gatehouse: what the driver relies
// on works as against PostgreSQL directly.
//
// Run by `crates/gatehouse/tests/compat_drivers.rs` against a gateway in front of a database
// holding `people (id int, email text, card text, note text)` with rows 1..50
// (`user<n>@example.com`, `4111 1111 1111 1111`, `note <n>`). It can also be run by hand, against
// the gateway or directly against PostgreSQL (leave COMPAT_CA_FILE unset for plaintext):
//
//   COMPAT_HOST=127.0.0.1 COMPAT_PORT=5432 COMPAT_USER=postgres COMPAT_DBNAME=somedb \
//       node node_compat.js --mode admins
//
// Environment: COMPAT_HOST, COMPAT_PORT, COMPAT_DBNAME, COMPAT_USER, COMPAT_PASSWORD (the
// gatehouse token), COMPAT_CA_FILE (verify the server's certificate with it: TLS required),
// COMPAT_MODE (`admins` or `readers`; `--mode` wins), and in readers mode COMPAT_ADMIN_USER and
// COMPAT_ADMIN_PASSWORD (an admins identity, to compare what it sees and to send notifications).
//
// `admins` sees values as stored and may do anything; `readers` must read the same rows through
// every path with the sensitive columns masked, and what it may not do is refused with
// gatehouse's 42501 while the session goes on.
//
// Prints one line per check and exits 1 when any check failed. Install the pinned packages with
// `npm ci --prefix crates/gatehouse/tests/compat`.

'use strict';

const fs = require('fs');
const tls = require('tls');
const { Client } = require('pg');
const Cursor = require('pg-cursor');
const QueryStream = require('pg-query-stream');

const ROWS = 50;
const CARD = '4111 1111 1111 1111';
const MASKED_CARD = '**** **** **** 1111';
const PEOPLE = 'SELECT id, email, card, note FROM people ORDER BY id';
const CHECK_TIMEOUT_MS = 30000;

function parseMode() {
  let mode = process.env.COMPAT_MODE || 'admins';
  const at = process.argv.indexOf('--mode');
  if (at !== -1) mode = process.argv[at + 1];
  if (mode !== 'admins' && mode !== 'readers') {
    console.error(`--mode must be admins or readers, not ${mode}`);
    process.exit(2);
  }
  return mode;
}

const mode = parseMode();
const readers = mode === 'readers';
const env = {
  host: process.env.COMPAT_HOST || '127.0.0.1',
  port: Number(process.env.COMPAT_PORT || 5432),
  database: process.env.COMPAT_DBNAME || 'demo',
  user: process.env.COMPAT_USER || 'postgres',
  password: process.env.COMPAT_PASSWORD,
  caFile: process.env.COMPAT_CA_FILE || null,
  adminUser: process.env.COMPAT_ADMIN_USER || null,
  adminPassword: process.env.COMPAT_ADMIN_PASSWORD,
};

function rawRow(n) {
  return [n, `user${n}@example.com`, CARD, `note ${n}`];
}

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function expectEq(actual, expected, what) {
  if (!same(actual, expected)) {
    throw new CheckFailed(
      `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

async function expectError(code, promise, what) {
  try {
    await promise;
  } catch (error) {
    if (error.code !== code) {
      throw new CheckFailed(
        `${what}: expected SQLSTATE ${code}, got ${error.code}: ${error.message}`);
    }
    return error;
  }
  throw new CheckFailed(`${what}: expected SQLSTATE ${code}, but it succeeded`);
}

function config(user, password) {
  return {
    host: env.host,
    port: env.port,
    database: env.database,
    user,
    password,
    application_name: 'node_compat',
    connectionTimeoutMillis: 10000,
    ssl: env.caFile ? { ca: fs.readFileSync(env.caFile, 'utf8'), rejectUnauthorized: true } : false,
  };
}

async function connect() {
  const client = new Client(config(env.user, env.password));
  // An error on an idle client (the server going away) must not crash the script.
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function connectAdmin() {
  if (!env.adminUser) return null;
  const client = new Client(config(env.adminUser, env.adminPassword));
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function withClient(body) {
  const client = await connect();
  try {
    return await body(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function arrayRows(client, text, values) {
  const result = await client.query({ text, values, rowMode: 'array' });
  return result.rows;
}

// What this identity reads for `people`, through the plainest path (set by `reads`).
let reference = null;

function expectedRow(n) {
  expect(reference !== null, 'the `reads` check did not produce the reference rows');
  return reference[n - 1];
}

async function expectRefused(client, sql, what) {
  const error = await expectError('42501', client.query(sql), what);
  expect(error.message.includes('gatehouse'), `${what}: not gatehouse's refusal: ${error.message}`);
  expectEq(await arrayRows(client, 'SELECT 1'), [[1]], `${what}: the session after it`);
  return error;
}

function waitForNotification(client, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CheckFailed(`no notification in ${ms} ms`)), ms);
    client.once('notification', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
  });
}

const checks = [
  ['connect', async () => withClient(async (client) => {
    if (env.caFile) {
      const stream = client.connection.stream;
      expect(stream instanceof tls.TLSSocket, 'the session is not encrypted');
      expect(stream.authorized, `the certificate is not verified: ${stream.authorizationError}`);
    }
    expectEq(await arrayRows(client, 'SELECT 41 + 1'), [[42]], 'SELECT 41 + 1');
    const version = (await arrayRows(client, 'SHOW server_version'))[0][0];
    const pg = require('pg/package.json').version;
    return `pg ${pg}, server ${version}, tls=${env.caFile ? 'verified' : 'no'}`;
  })],

  ['reads', async () => {
    const rows = await withClient((client) => arrayRows(client, PEOPLE));
    expectEq(rows.length, ROWS, 'rows of people');
    for (const row of rows) {
      const raw = rawRow(row[0]);
      expectEq([row[0], row[3]], [raw[0], raw[3]], `unmasked columns of row ${row[0]}`);
      if (readers) {
        expect(row[1].startsWith('email:') && row[1] !== raw[1],
          `row ${row[0]}: the email is not masked for readers: ${row[1]}`);
        expectEq(row[2], MASKED_CARD, `row ${row[0]}: the card for readers`);
      } else {
        expectEq(row, raw, `row ${row[0]} for admins`);
      }
    }
    if (readers) {
      expectEq(new Set(rows.map((row) => row[1])).size, ROWS,
        'distinct emails must stay distinct once masked (a hash)');
    }
    reference = rows;
    let detail = `${rows.length} rows, email of 1 = ${rows[0][1]}, card = ${rows[0][2]}`;
    const admin = await connectAdmin();
    if (admin !== null) {
      try {
        const seen = await arrayRows(admin, PEOPLE);
        expectEq(seen, Array.from({ length: ROWS }, (_, i) => rawRow(i + 1)), 'what admins read');
        rows.forEach((mine, i) => {
          expectEq([mine[0], mine[3]], [seen[i][0], seen[i][3]], 'readers vs admins');
          expect(mine[1] !== seen[i][1], `row ${mine[0]}: readers see the admins' email`);
        });
      } finally {
        await admin.end();
      }
      detail += '; admins read the same rows unmasked';
    }
    return detail;
  }],

  ['parameters and object rows', async () => withClient(async (client) => {
    const rows = await arrayRows(client,
      'SELECT id, email, card, note FROM people WHERE id <= $1 ORDER BY id', [10]);
    expectEq(rows, reference.slice(0, 10), 'rows with a bound parameter');
    const result = await client.query(
      'SELECT id, email, card, note FROM people WHERE id = $1', [7]);
    const [id, email, card, note] = expectedRow(7);
    expectEq(result.rows, [{ id, email, card, note }], 'an object row');
    expectEq(result.fields.map((f) => f.name), ['id', 'email', 'card', 'note'], 'field names');
    return 'extended protocol with parameters reads the same rows';
  })],

  ['named prepared queries', async () => withClient(async (client) => {
    for (const round of [1, 2, 3]) {
      for (const n of [1, 2, 3, 4, 5]) {
        const result = await client.query({
          name: 'compat_by_id',
          text: 'SELECT id, email, card, note FROM people WHERE id = $1',
          values: [n],
          rowMode: 'array',
        });
        expectEq(result.rows, [expectedRow(n)], `compat_by_id(${n}), round ${round}`);
      }
      const counted = await client.query({
        name: 'compat_count',
        text: 'SELECT count(*)::int FROM people WHERE id > $1',
        values: [40],
        rowMode: 'array',
      });
      expectEq(counted.rows, [[10]], 'compat_count');
    }
    const prepared = await arrayRows(client,
      'SELECT count(*)::int FROM pg_prepared_statements WHERE NOT from_sql');
    expectEq(prepared, [[2]], 'statements prepared on the server');
    return '2 named statements, each parsed once and executed repeatedly';
  })],

  ['pg-cursor in batches', async () => withClient(async (client) => {
    const cursor = client.query(new Cursor(PEOPLE, [], { rowMode: 'array' }));
    const batches = [];
    for (;;) {
      const rows = await cursor.read(7);
      if (rows.length === 0) break;
      batches.push(rows);
    }
    await cursor.close();
    expectEq(batches.map((b) => b.length), [7, 7, 7, 7, 7, 7, 7, 1], 'batch sizes');
    expectEq(batches.flat(), reference, 'rows through pg-cursor');

    // With a parameter, and inside a transaction, closed before the end.
    await client.query('BEGIN');
    const partial = client.query(new Cursor(
      'SELECT id, email, card, note FROM people WHERE id > $1 ORDER BY id', [40],
      { rowMode: 'array' }));
    expectEq(await partial.read(3), reference.slice(40, 43), 'first batch with a parameter');
    await partial.close();
    await client.query('COMMIT');
    expectEq(await arrayRows(client, 'SELECT 1'), [[1]], 'the session after the cursor');
    return `${batches.length} batches of up to 7 rows`;
  })],

  ['pg-query-stream', async () => withClient(async (client) => {
    const stream = client.query(new QueryStream(PEOPLE, [], { batchSize: 7, rowMode: 'array' }));
    const rows = [];
    for await (const row of stream) rows.push(row);
    expectEq(rows, reference, 'rows through pg-query-stream');
    const filtered = client.query(new QueryStream(
      'SELECT id, email, card, note FROM people WHERE id <= $1 ORDER BY id', [3],
      { batchSize: 2 }));
    const objects = [];
    for await (const row of filtered) objects.push([row.id, row.email, row.card, row.note]);
    expectEq(objects, reference.slice(0, 3), 'object rows with a parameter');

    // A consumer that stops early destroys the stream: its portal is closed and the client
    // goes on.
    const early = client.query(new QueryStream(PEOPLE, [], { batchSize: 5, rowMode: 'array' }));
    const firstRows = [];
    for await (const row of early) {
      firstRows.push(row);
      if (firstRows.length === 3) break;
    }
    expectEq(firstRows, reference.slice(0, 3), 'rows before stopping early');
    expectEq(await arrayRows(client, 'SELECT count(*)::int FROM people'), [[ROWS]],
      'the client after a stream stopped early');
    return `${rows.length} rows streamed in batches of 7; stopped early, client goes on`;
  })],

  ['several statements in one query', async () => withClient(async (client) => {
    const results = await client.query(
      'SELECT 1 AS one; SELECT note FROM people WHERE id = 4; '
        + 'SELECT email FROM people WHERE id = 4');
    expectEq(results.length, 3, 'results');
    expectEq(results[0].rows, [{ one: 1 }], 'the first result');
    expectEq(results[1].rows, [{ note: 'note 4' }], 'the second result');
    expectEq(results[2].rows, [{ email: expectedRow(4)[1] }], 'the third result');
    return 'three results from one simple query';
  })],

  ['settings at connection time', async () => {
    const client = new Client({
      ...config(env.user, env.password),
      statement_timeout: 300,
      options: '-c search_path=public',
    });
    client.on('error', () => {});
    await client.connect();
    try {
      expectEq(await arrayRows(client, 'SHOW statement_timeout'), [['300ms']], 'statement_timeout');
      expectEq(await arrayRows(client, 'SHOW search_path'), [['public']], 'search_path');
      await expectError('57014', client.query('SELECT pg_sleep(3)'),
        'a statement past its timeout');
      expectEq(await arrayRows(client, 'SELECT 1'), [[1]], 'the session after it');
    } finally {
      await client.end();
    }
    return 'statement_timeout and options from the client config';
  }],

  ['processID', async () => withClient(async (client) => {
    const pid = client.processID;
    expect(Number.isInteger(pid) && pid > 0, `processID ${pid}`);
    expectEq(await arrayRows(client, 'SELECT pg_backend_pid()'), [[pid]], 'pg_backend_pid()');
    return `processID ${pid} is the server's`;
  })],

  ['LISTEN/NOTIFY processId', async () => withClient(async (client) => {
    await client.query('LISTEN compat');
    const payload = 'contact user1@example.com';
    if (!readers) {
      const arrived = waitForNotification(client, 10000);
      await client.query(`NOTIFY compat, '${payload}'`);
      const message = await arrived;
      expectEq(message.processId, client.processID, "the notification's processId (our own)");
      expectEq([message.channel, message.payload], ['compat', payload], 'the notification');
      return `own notification with processId ${message.processId}`;
    }
    await expectRefused(client, "NOTIFY compat, 'from a reader'", 'NOTIFY by readers');
    const admin = await connectAdmin();
    if (admin === null) return 'LISTEN works, NOTIFY refused (no admins identity given to notify)';
    let sender;
    const arrived = waitForNotification(client, 10000);
    try {
      sender = admin.processID;
      await admin.query(`NOTIFY compat, '${payload}'`);
    } finally {
      await admin.end();
    }
    const message = await arrived;
    expectEq(message.processId, sender, "the notification's processId (the sender's)");
    expectEq(message.channel, 'compat', 'the channel');
    expect(!message.payload.includes('user1@example.com') && message.payload.includes('email:'),
      `the payload is not masked for readers: ${message.payload}`);
    return `NOTIFY refused; an admin's notification arrives with processId ${sender}, masked`;
  })],

  ['syntax error', async () => withClient(async (client) => {
    const error = await expectError('42601', client.query('SELECT 1 FROM FROM people'),
      'simple query that does not parse');
    expectEq(error.position, '15', "the error's position");
    await expectError('42601', client.query('SELECT $1::int FROM FROM people', [1]),
      'extended query that does not parse');
    expectEq(await arrayRows(client, 'SELECT 2'), [[2]], 'the session after it');
    return '42601 at position 15, session goes on';
  })],

  ['transaction after an error', async () => withClient(async (client) => {
    await client.query('BEGIN');
    await expectError('22012', client.query('SELECT 1 / 0'), 'division by zero');
    await expectError('25P02', client.query('SELECT 1'), 'the failed transaction');
    await client.query('ROLLBACK');
    expectEq(await arrayRows(client, 'SELECT count(*)::int FROM people'), [[ROWS]], 'rows');
    return 'failed transaction, rolled back, session goes on';
  })],

  ['writes', async () => withClient(async (client) => {
    const insert = "INSERT INTO people VALUES (99, 'x@example.com', '', 'x')";
    if (readers) {
      await client.query('BEGIN');
      const error = await expectError('42501', client.query(insert), 'INSERT by readers');
      expect(error.message.includes('gatehouse'), `not gatehouse's refusal: ${error.message}`);
      await expectError('25P02', client.query('SELECT 1'), 'the failed transaction');
      await client.query('ROLLBACK');
      await expectRefused(client, insert, 'INSERT by readers (autocommit)');
      await expectRefused(client, 'DELETE FROM people', 'DELETE by readers');
      await expectRefused(client, 'SELECT pg_terminate_backend(pg_backend_pid())',
        'pg_terminate_backend by readers');
      await expectError('42501',
        client.query({ text: 'DELETE FROM people WHERE id = $1', values: [1] }),
        'DELETE with a parameter by readers');
      expectEq(await arrayRows(client, 'SELECT count(*)::int FROM people'), [[ROWS]], 'rows');
      return 'INSERT, DELETE, pg_terminate_backend refused with 42501; session goes on';
    }
    await client.query('BEGIN');
    await client.query(insert);
    expectEq(await arrayRows(client, 'SELECT count(*)::int FROM people'), [[ROWS + 1]], 'rows');
    await client.query('ROLLBACK');
    expectEq(await arrayRows(client, 'SELECT count(*)::int FROM people'), [[ROWS]], 'rows');
    return 'INSERT in a transaction, rolled back';
  })],
];

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`${what} did not finish in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  console.log(`node-postgres compat, mode ${mode}, ${env.host}:${env.port}/${env.database}`);
  let passed = 0;
  const failed = [];
  for (const [name, check] of checks) {
    if (name !== 'connect' && name !== 'reads' && reference === null) {
      failed.push(`${name}: not run, the \`reads\` check produced no reference rows`);
      console.log(`FAIL ${name}: not run (no reference rows)`);
      continue;
    }
    try {
      const detail = await withTimeout(check(), CHECK_TIMEOUT_MS, name);
      passed += 1;
      console.log(`ok   ${name}${detail ? `: ${detail}` : ''}`);
    } catch (error) {
      const code = error.code ? ` (${error.code})` : '';
      const reason = `${error.constructor.name}: ${error.message}${code}`;
      failed.push(`${name}: ${reason}`);
      console.log(`FAIL ${name}: ${reason}`);
      console.error(error.stack);
    }
  }
  console.log(`node-postgres compat (${mode}): ${passed} checks passed, ${failed.length} failed`);
  for (const failure of failed) console.log(`  failed: ${failure}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
