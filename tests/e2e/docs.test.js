// Live documents (docs/livesync-docs.md): GET/PUT/PATCH/DELETE with
// versions as ETags, If-Match / If-None-Match (412 with the current
// document, create-only, 304), merge patches with field-level
// last-writer-wins on HLC stamps (concurrent patches to different fields
// both survive; one set of stamped patches sent in different orders, and
// all at once, ends in the same document), intent ops (100 concurrent
// `incr -1, min 0` on stock 50: exactly 50 succeed and 0 is left; all or
// nothing; at most once per client mutation), the changes feed, the
// publications on docs:{collection} and docs:{collection}/{id}, the API
// key, and documents surviving SIGKILL.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const h = require('./helpers');

let server;
before(async () => { server = await h.startServer(); });
after(async () => { if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM'); });

let seq = 0;
// A collection of its own for each test.
const coll = (name = 'c') => `${name}-${process.pid}-${++seq}`;
const doc = (c, id) => `/v1/docs/${c}/${id}`;
const etag = (res) => res.headers.get('etag');
const HLC_RE = /^\d{13}-\d{5}-[A-Za-z0-9_.:-]{1,64}$/;
// The text form of an HLC stamp.
const hlc = (l, c, node) => `${String(l).padStart(13, '0')}-${String(c).padStart(5, '0')}-${node}`;

async function put(s, c, id, data, headers = {}) {
  return h.api(s, 'PUT', doc(c, id), data, headers);
}
async function get(s, c, id, headers = {}) {
  return h.api(s, 'GET', doc(c, id), undefined, headers);
}
async function patch(s, c, id, data, headers = {}) {
  return h.api(s, 'PATCH', doc(c, id), data, headers);
}
async function ops(s, c, id, body, headers = {}) {
  return h.api(s, 'POST', doc(c, id) + '/ops', body, headers);
}
function ok(res, status, what) {
  assert.equal(res.status, status, `${what} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('documents: read, replace, delete', () => {
  test('PUT creates (201) then replaces (200); GET answers {id, version, data} with the version as ETag', async () => {
    const c = coll();
    const r1 = await put(server, c, 'a', { name: 'x', n: 1 });
    const b1 = ok(r1, 201, 'create');
    assert.equal(b1.id, 'a');
    assert.equal(typeof b1.version, 'number');
    assert.ok(b1.version >= 1);
    assert.deepEqual(b1.data, { name: 'x', n: 1 });
    assert.equal(etag(r1), `"${b1.version}"`);
    assert.match(r1.headers.get('synq-hlc'), HLC_RE, 'the write reports its stamp');

    const g = await get(server, c, 'a');
    assert.deepEqual(ok(g, 200, 'get'), { id: 'a', version: b1.version, data: { name: 'x', n: 1 } });
    assert.equal(etag(g), `"${b1.version}"`);

    const r2 = await put(server, c, 'a', { other: true });
    const b2 = ok(r2, 200, 'replace');
    assert.ok(b2.version > b1.version, 'the version moves');
    assert.deepEqual(b2.data, { other: true }, 'replace drops the old fields');
    assert.deepEqual(b2.changed.sort(), ['n', 'name', 'other']);

    // a replace that changes nothing keeps the version
    const r3 = await put(server, c, 'a', { other: true });
    assert.equal(ok(r3, 200, 'same replace').version, b2.version);

    const head = await fetch(server.url + doc(c, 'a'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), `"${b2.version}"`);
  });

  test('versions are unique and increasing within a collection', async () => {
    const c = coll();
    const versions = [];
    for (const id of ['a', 'b', 'a', 'c', 'b']) {
      const r = await put(server, c, id, { v: versions.length });
      assert.ok(r.status === 200 || r.status === 201, `put ${id}: ${r.status}`);
      versions.push(r.body.version);
    }
    for (let i = 1; i < versions.length; i++) assert.ok(versions[i] > versions[i - 1], `increasing: ${versions}`);
  });

  test('DELETE removes; GET is 404 afterwards; a second DELETE is 404; PUT recreates', async () => {
    const c = coll();
    const v1 = ok(await put(server, c, 'd', { x: 1 }), 201, 'create').version;
    const del = await h.api(server, 'DELETE', doc(c, 'd'));
    const bd = ok(del, 200, 'delete');
    assert.equal(bd.data, null);
    assert.equal(bd.deleted, true);
    assert.ok(bd.version > v1);
    assert.equal(etag(del), `"${bd.version}"`);
    h.assertError(await get(server, c, 'd'), 404, 'not_found');
    h.assertError(await h.api(server, 'DELETE', doc(c, 'd')), 404, 'not_found');
    h.assertError(await get(server, c, 'never'), 404, 'not_found');
    const again = ok(await put(server, c, 'd', { y: 2 }), 201, 'recreate');
    assert.ok(again.version > bd.version);
    assert.deepEqual(again.data, { y: 2 });
  });

  test('invalid requests: names, bodies, headers', async () => {
    const c = coll();
    h.assertError(await put(server, c, 'a', [1, 2]), 422, 'invalid_field', 'data');
    h.assertError(await put(server, c, 'a', '"text"'), 400, 'malformed_json'); // a scalar is no body (api/router.c)
    h.assertError(await put(server, c, 'a', '{"a":'), 400, 'malformed_json');
    h.assertError(await h.api(server, 'PUT', doc(c, 'a')), 400, 'malformed_json');
    h.assertError(await patch(server, c, 'a', [{ a: 1 }]), 422, 'invalid_field', 'data');
    h.assertError(await put(server, 'bad%20name', 'a', {}), 422, 'invalid_field', 'collection');
    h.assertError(await put(server, 'x'.repeat(65), 'a', {}), 422, 'invalid_field', 'collection');
    h.assertError(await put(server, c, 'a%2Fb', {}), 422, 'invalid_field', 'id');
    h.assertError(await patch(server, c, 'a', { x: 1 }, { 'synq-hlc': 'yesterday' }), 400, 'invalid_header');
    // a writer clock 10 minutes ahead is refused
    h.assertError(await patch(server, c, 'a', { x: 1 }, { 'synq-hlc': hlc(Date.now() + 600000, 0, 'fast') }),
      422, 'invalid_field', 'Synq-HLC');
    // the server's own node id is refused (its stamps could collide with the server's)
    const own = await put(server, c, 'own', { x: 1 });
    const node = own.headers.get('synq-hlc').split('-').slice(2).join('-');
    h.assertError(await patch(server, c, 'a', { x: 1 }, { 'synq-hlc': hlc(Date.now(), 0, node) }), 422, 'invalid_field', 'Synq-HLC');
    h.assertError(await get(server, c, 'a'), 404, 'not_found', undefined, 'nothing was written');
    const r = await h.api(server, 'POST', `/v1/docs/${c}`, {});
    assert.equal(r.status, 405);
  });
});

describe('optimistic concurrency', () => {
  test('If-Match: a moved version fails with 412 and the current document; the right one succeeds', async () => {
    const c = coll();
    const v1 = ok(await put(server, c, 'a', { n: 1 }), 201, 'create').version;
    const v2 = ok(await put(server, c, 'a', { n: 2 }, { 'if-match': `"${v1}"` }), 200, 'if-match ok').version;
    for (const [method, body] of [['PUT', { n: 3 }], ['PATCH', { n: 3 }], ['DELETE', undefined]]) {
      const r = await h.api(server, method, doc(c, 'a'), body, { 'if-match': `"${v1}"` });
      h.assertError(r, 412, 'precondition_failed', undefined, method);
      assert.deepEqual(r.body.current, { id: 'a', version: v2, data: { n: 2 } }, `${method} 412 carries the current document`);
      assert.equal(etag(r), `"${v2}"`);
    }
    // unquoted versions and lists are accepted; weak tags never match
    ok(await patch(server, c, 'a', { m: 1 }, { 'if-match': `${v2}` }), 200, 'bare version');
    const v3 = ok(await get(server, c, 'a'), 200, 'get').version;
    ok(await patch(server, c, 'a', { m: 2 }, { 'if-match': `"1", "${v3}"` }), 200, 'list');
    const v4 = ok(await get(server, c, 'a'), 200, 'get').version;
    h.assertError(await patch(server, c, 'a', { m: 3 }, { 'if-match': `W/"${v4}"` }), 412, 'precondition_failed');
    // ops honour If-Match too
    h.assertError(await ops(server, c, 'a', { ops: [{ op: 'incr', field: 'n' }] }, { 'if-match': `"${v1}"` }), 412, 'precondition_failed');
    assert.deepEqual(ok(await get(server, c, 'a'), 200, 'get').data, { n: 2, m: 2 }, 'the failed writes changed nothing');
  });

  test('If-Match: * needs the document; If-None-Match: * creates only', async () => {
    const c = coll();
    const r = await put(server, c, 'x', { a: 1 }, { 'if-match': '*' });
    h.assertError(r, 412, 'precondition_failed');
    assert.equal(r.body.current.data, null);
    h.assertError(await get(server, c, 'x'), 404, 'not_found');
    ok(await put(server, c, 'x', { a: 1 }, { 'if-none-match': '*' }), 201, 'create-only');
    const again = await put(server, c, 'x', { a: 2 }, { 'if-none-match': '*' });
    h.assertError(again, 412, 'precondition_failed');
    assert.deepEqual(again.body.current.data, { a: 1 });
    ok(await put(server, c, 'x', { a: 3 }, { 'if-match': '*' }), 200, 'must exist');
    // a deleted document does not exist for If-None-Match: *
    ok(await h.api(server, 'DELETE', doc(c, 'x')), 200, 'delete');
    ok(await put(server, c, 'x', { a: 4 }, { 'if-none-match': '*' }), 201, 'create over a tombstone');
  });

  test('concurrent create-only PUTs: exactly one wins', async () => {
    const c = coll();
    const res = await Promise.all(Array.from({ length: 20 }, (_, i) => put(server, c, 'once', { i }, { 'if-none-match': '*' })));
    assert.equal(res.filter((r) => r.status === 201).length, 1);
    assert.equal(res.filter((r) => r.status === 412).length, 19);
  });

  test('GET with If-None-Match of the current version answers 304', async () => {
    const c = coll();
    const v = ok(await put(server, c, 'a', { a: 1 }), 201, 'create').version;
    const r = await fetch(server.url + doc(c, 'a'), { headers: { 'if-none-match': `"${v}"` } });
    assert.equal(r.status, 304);
    assert.equal(r.headers.get('etag'), `"${v}"`);
    const r2 = await fetch(server.url + doc(c, 'a'), { headers: { 'if-none-match': `"${v + 100}"` } });
    assert.equal(r2.status, 200);
  });
});

describe('merge patches with last-writer-wins', () => {
  test('a patch merges per RFC 7396 and creates a missing document', async () => {
    const c = coll();
    const r = await patch(server, c, 'p', { a: 1, b: { c: 2 } });
    assert.deepEqual(ok(r, 201, 'create by patch').data, { a: 1, b: { c: 2 } });
    const r2 = await patch(server, c, 'p', { a: null, b: { d: 3 }, e: [1, 2] });
    const b2 = ok(r2, 200, 'patch');
    assert.deepEqual(b2.data, { b: { c: 2, d: 3 }, e: [1, 2] });
    assert.deepEqual(b2.changed.sort(), ['a', 'b', 'e']);
  });

  test('two clients patching different fields concurrently: both survive', async () => {
    const c = coll();
    ok(await put(server, c, 'shared', { title: 'start' }), 201, 'create');
    const N = 30;
    const client = async (field) => {
      for (let i = 0; i < N; i++) ok(await patch(server, c, 'shared', { [field]: i }), 200, `patch ${field}`);
    };
    await Promise.all([client('left'), client('right'), client('up'), client('down')]);
    const d = ok(await get(server, c, 'shared'), 200, 'get').data;
    assert.deepEqual(d, { title: 'start', left: N - 1, right: N - 1, up: N - 1, down: N - 1 });
  });

  test('one set of stamped patches converges whatever the arrival order', async () => {
    const c = coll();
    const base = Date.now() - 5000;
    const writes = [
      [{ title: 'A', meta: { color: 'red' } }, hlc(base + 1, 0, 'alice')],
      [{ title: 'B' }, hlc(base + 1, 0, 'bob')], // same (l, c): the node id breaks the tie
      [{ meta: { color: null, size: 3 } }, hlc(base + 2, 0, 'alice')],
      [{ meta: 'flat' }, hlc(base, 5, 'carol')], // older than everything under meta
      [{ count: 1, tags: ['x'] }, hlc(base + 3, 0, 'bob')],
      [{ count: null }, hlc(base + 2, 1, 'carol')], // a delete older than the set
      [{ meta: { shape: 'round' } }, hlc(base + 4, 0, 'dave')],
      [{ gone: 1 }, hlc(base + 1, 7, 'erin')],
      [{ gone: null }, hlc(base + 1, 8, 'erin')],
    ];
    const want = { title: 'B', meta: { size: 3, shape: 'round' }, count: 1, tags: ['x'] };
    const orders = {
      forward: writes.map((_, i) => i),
      backward: writes.map((_, i) => writes.length - 1 - i),
      shuffled: [4, 0, 8, 2, 6, 1, 5, 3, 7],
      interleaved: [1, 3, 5, 7, 0, 2, 4, 6, 8],
    };
    for (const [name, order] of Object.entries(orders)) {
      for (const i of order) {
        const [p, stamp] = writes[i];
        const r = await patch(server, c, name, p, { 'synq-hlc': stamp });
        assert.ok(r.status === 200 || r.status === 201, `${name}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.equal(r.headers.get('synq-hlc'), stamp, 'the writer stamp is the one applied');
      }
    }
    // and all at once
    await Promise.all(writes.map(([p, stamp]) => patch(server, c, 'concurrent', p, { 'synq-hlc': stamp })));
    for (const name of [...Object.keys(orders), 'concurrent']) {
      assert.deepEqual(ok(await get(server, c, name), 200, name).data, want, `order ${name}`);
    }
    // replaying a patch changes nothing (same stamp = same write)
    const before = ok(await get(server, c, 'forward'), 200, 'get');
    const again = await patch(server, c, 'forward', writes[0][0], { 'synq-hlc': writes[0][1] });
    assert.equal(ok(again, 200, 'replay').version, before.version);
    assert.deepEqual(again.body.data, want);
  });

  test('concurrent unstamped patches to one field: every reader sees the same last value', async () => {
    const c = coll();
    await Promise.all(Array.from({ length: 25 }, (_, i) => patch(server, c, 'f', { v: i })));
    const a = ok(await get(server, c, 'f'), 200, 'get');
    const b = ok(await h.api(server, 'GET', `/v1/docs/${c}?since=0`), 200, 'feed');
    assert.equal(b.changes.length, 1);
    assert.deepEqual(b.changes[0].data, a.data);
    assert.ok(a.data.v >= 0 && a.data.v < 25);
  });

  test('a replace or delete wins over older stamped patches', async () => {
    const c = coll();
    const old = hlc(Date.now() - 60000, 0, 'slow');
    ok(await put(server, c, 'r', { a: 1 }), 201, 'put');
    const r = await patch(server, c, 'r', { a: 2, b: 2 }, { 'synq-hlc': old });
    assert.deepEqual(ok(r, 200, 'old patch').data, { a: 1 }, 'the older patch lost entirely');
    assert.deepEqual(r.body.changed, []);
    ok(await h.api(server, 'DELETE', doc(c, 'r')), 200, 'delete');
    const r2 = await patch(server, c, 'r', { a: 3 }, { 'synq-hlc': old });
    assert.equal(ok(r2, 200, 'patch older than the delete').data, null);
    h.assertError(await get(server, c, 'r'), 404, 'not_found', undefined, 'still deleted');
    // an unstamped patch is stamped by the server, after the delete
    assert.deepEqual(ok(await patch(server, c, 'r', { a: 4 }), 201, 'recreate').data, { a: 4 });
  });
});

describe('intent operations', () => {
  test('100 concurrent incr -1 on stock 50 with min 0: exactly 50 succeed and 0 is left', async () => {
    const c = coll();
    ok(await put(server, c, 'item', { stock: 50, name: 'widget' }), 201, 'create');
    const res = await Promise.all(Array.from({ length: 100 }, () =>
      ops(server, c, 'item', { ops: [{ op: 'incr', field: 'stock', by: -1, min: 0 }] })));
    const okRes = res.filter((r) => r.status === 200);
    const bound = res.filter((r) => r.status === 409);
    assert.equal(okRes.length, 50, `successes: ${res.map((r) => r.status).join(',')}`);
    assert.equal(bound.length, 50);
    for (const r of bound) h.assertError(r, 409, 'bound', 'stock');
    const left = okRes.map((r) => r.body.results[0].value).sort((a, b) => a - b);
    assert.deepEqual(left, Array.from({ length: 50 }, (_, i) => i), 'each success saw its own stock level');
    const versions = new Set(okRes.map((r) => r.body.version));
    assert.equal(versions.size, 50, 'each success made its own version');
    assert.deepEqual(ok(await get(server, c, 'item'), 200, 'get').data, { stock: 0, name: 'widget' });
  });

  test('ops apply all or nothing; a wrong type names the field', async () => {
    const c = coll();
    ok(await put(server, c, 'o', { a: 1, b: 0, s: 'text', tags: ['x'] }), 201, 'create');
    const r = await ops(server, c, 'o', { ops: [
      { op: 'incr', field: 'a', by: 5 },
      { op: 'add', field: 'tags', value: 'y' },
      { op: 'incr', field: 'b', by: -1, min: 0 },
    ] });
    h.assertError(r, 409, 'bound', 'b');
    h.assertError(await ops(server, c, 'o', { ops: [{ op: 'incr', field: 'a' }, { op: 'incr', field: 's' }] }),
      422, 'invalid_field', 's');
    h.assertError(await ops(server, c, 'o', { ops: [{ op: 'add', field: 'a', value: 1 }] }), 422, 'invalid_field', 'a');
    h.assertError(await ops(server, c, 'o', { ops: [{ op: 'mul', field: 'a' }] }), 422, 'invalid_field', 'ops[0].op');
    h.assertError(await ops(server, c, 'o', { ops: [] }), 422, 'invalid_field', 'ops');
    h.assertError(await ops(server, c, 'o', { ops: [{ op: 'incr', field: 'a' }], extra: 1 }), 422, 'invalid_field', 'extra');
    h.assertError(await ops(server, c, 'o', { ops: [{ op: 'incr', field: 'a' }], mutation: 1 }), 422, 'invalid_field', 'client');
    assert.deepEqual(ok(await get(server, c, 'o'), 200, 'get').data, { a: 1, b: 0, s: 'text', tags: ['x'] }, 'nothing applied');

    const good = await ops(server, c, 'o', { ops: [
      { op: 'incr', field: 'a', by: 5, max: 6 },
      { op: 'add', field: 'tags', value: 'y' },
      { op: 'add', field: 'tags', value: 'x' },
      { op: 'remove', field: 'tags', value: 'x' },
      { op: 'add', field: 'fresh', value: { k: 1 } },
    ] });
    const b = ok(good, 200, 'ops');
    assert.deepEqual(b.data, { a: 6, b: 0, s: 'text', tags: ['y'], fresh: [{ k: 1 }] });
    assert.deepEqual(b.results.map((x) => x.value ?? x.changed), [6, true, false, true, true]);
    assert.match(good.headers.get('synq-hlc'), HLC_RE);
  });

  test('a request with client + mutation applies at most once', async () => {
    const c = coll();
    ok(await put(server, c, 'm', { n: 10 }), 201, 'create');
    const client = `cl-${process.pid}-${seq}`;
    const body = { ops: [{ op: 'incr', field: 'n', by: -3 }], client, mutation: 17 };
    const first = ok(await ops(server, c, 'm', body), 200, 'first');
    assert.equal(first.data.n, 7);
    assert.equal(first.duplicate, undefined);
    const again = await ops(server, c, 'm', body);
    const b = ok(again, 200, 'repeat');
    assert.equal(b.duplicate, true);
    assert.equal(b.version, first.version);
    assert.deepEqual(b.results, first.results);
    assert.equal(etag(again), `"${first.version}"`);
    // concurrent repeats of a new mutation: applied once
    const body2 = { ops: [{ op: 'incr', field: 'n', by: -1 }], client, mutation: 18 };
    const res = await Promise.all(Array.from({ length: 10 }, () => ops(server, c, 'm', body2)));
    assert.ok(res.every((r) => r.status === 200));
    assert.equal(res.filter((r) => !r.body.duplicate).length, 1);
    assert.equal(ok(await get(server, c, 'm'), 200, 'get').data.n, 6);
    // another client may use the same number
    ok(await ops(server, c, 'm', { ...body, client: client + '-b' }), 200, 'other client');
    assert.equal(ok(await get(server, c, 'm'), 200, 'get').data.n, 3);
  });

  test('an op with its own mutation id is skipped when repeated; the rest apply', async () => {
    const c = coll();
    const client = `op-${process.pid}-${seq}`;
    const r1 = ok(await ops(server, c, 'k', { client, ops: [{ op: 'incr', field: 'n', by: 2, mutation: 1 }] }), 201, 'first');
    assert.deepEqual(r1.data, { n: 2 });
    const r2 = ok(await ops(server, c, 'k', { client, ops: [
      { op: 'incr', field: 'n', by: 2, mutation: 1 },
      { op: 'incr', field: 'n', by: 10, mutation: 2 },
    ] }), 200, 'second');
    assert.deepEqual(r2.data, { n: 12 });
    assert.equal(r2.results[0].duplicate, true);
    assert.equal(r2.results[0].value, 2, 'the first result of the repeated op');
    assert.equal(r2.results[1].value, 12);
    assert.equal(r2.duplicate, undefined, 'the request as a whole was not a replay');
    const r3 = ok(await ops(server, c, 'k', { client, ops: [{ op: 'incr', field: 'n', by: 10, mutation: 2 }] }), 200, 'all repeated');
    assert.equal(r3.duplicate, true);
    assert.deepEqual(r3.data, { n: 12 });
    h.assertError(await ops(server, c, 'k', { client, ops: [{ op: 'incr', field: 'n', mutation: 5 }, { op: 'incr', field: 'n', mutation: 5 }] }),
      422, 'invalid_field', 'ops[1].mutation');
  });
});

describe('changes feed and publications', () => {
  test('GET /v1/docs/{collection}?since= reports the latest state of each changed document, tombstones included', async () => {
    const c = coll();
    const v = {};
    v.a = ok(await put(server, c, 'a', { x: 1 }), 201, 'a').version;
    v.b = ok(await put(server, c, 'b', { x: 2 }), 201, 'b').version;
    v.c = ok(await put(server, c, 'c', { x: 3 }), 201, 'c').version;
    v.a2 = ok(await patch(server, c, 'a', { x: 4 }), 200, 'a again').version;
    v.bdel = ok(await h.api(server, 'DELETE', doc(c, 'b')), 200, 'delete b').version;

    const all = ok(await h.api(server, 'GET', `/v1/docs/${c}?since=0`), 200, 'feed');
    assert.deepEqual(all.changes, [
      { id: 'c', version: v.c, data: { x: 3 }, deleted: false },
      { id: 'a', version: v.a2, data: { x: 4 }, deleted: false },
      { id: 'b', version: v.bdel, data: null, deleted: true },
    ]);
    assert.equal(all.version, v.bdel);

    const page = ok(await h.api(server, 'GET', `/v1/docs/${c}?since=0&limit=2`), 200, 'page');
    assert.deepEqual(page.changes.map((x) => x.id), ['c', 'a']);
    assert.equal(page.version, v.a2, 'the newest version included');
    const rest = ok(await h.api(server, 'GET', `/v1/docs/${c}?since=${page.version}&limit=2`), 200, 'rest');
    assert.deepEqual(rest.changes.map((x) => x.id), ['b']);
    const none = ok(await h.api(server, 'GET', `/v1/docs/${c}?since=${v.bdel}`), 200, 'caught up');
    assert.deepEqual(none.changes, []);
    assert.equal(none.version, v.bdel, 'the collection top when nothing is new');
    const empty = ok(await h.api(server, 'GET', `/v1/docs/${coll('empty')}`), 200, 'empty collection');
    assert.deepEqual(empty, { changes: [], version: 0 });

    h.assertError(await h.api(server, 'GET', `/v1/docs/${c}?since=-1`), 422, 'invalid_field', 'since');
    h.assertError(await h.api(server, 'GET', `/v1/docs/${c}?since=x`), 422, 'invalid_field', 'since');
    h.assertError(await h.api(server, 'GET', `/v1/docs/${c}?limit=0`), 422, 'invalid_field', 'limit');
    h.assertError(await h.api(server, 'GET', `/v1/docs/${c}?limit=1001`), 422, 'invalid_field', 'limit');
  });

  test('each committed change is published on docs:{collection} and docs:{collection}/{id}', async () => {
    const c = coll();
    const v1 = ok(await put(server, c, 'p', { a: 1, b: 2 }), 201, 'put').version;
    const v2 = ok(await patch(server, c, 'p', { b: null, c: 3 }), 200, 'patch').version;
    ok(await patch(server, c, 'p', { a: 1 }), 200, 'no change: nothing published');
    const v3 = ok(await ops(server, c, 'p', { ops: [{ op: 'incr', field: 'a' }] }), 200, 'ops').version;
    const v4 = ok(await h.api(server, 'DELETE', doc(c, 'p')), 200, 'delete').version;
    ok(await put(server, c, 'q', { z: 1 }), 201, 'another doc');
    const want = [
      { collection: c, id: 'p', version: v1, fields: { a: 1, b: 2 } },
      { collection: c, id: 'p', version: v2, fields: { b: null, c: 3 } },
      { collection: c, id: 'p', version: v3, fields: { a: 2 } },
      { collection: c, id: 'p', version: v4, fields: { a: null, c: null }, deleted: true },
    ];
    const hist = async (ch) => {
      const r = await h.api(server, 'GET', `/v1/channels/${encodeURIComponent(ch)}/messages`);
      return ok(r, 200, `history of ${ch}`).publications.map((p) => p.data);
    };
    assert.deepEqual(await hist(`docs:${c}/p`), want);
    const coll_feed = await hist(`docs:${c}`);
    assert.deepEqual(coll_feed.slice(0, 4), want);
    assert.equal(coll_feed[4].id, 'q');
  });
});

test('the API key guards every document endpoint, reads included', async () => {
  const s = await h.startServer({ args: ['--api-key', 'sekrit'] });
  try {
    const auth = { authorization: 'Bearer sekrit' };
    h.assertError(await h.api(s, 'PUT', '/v1/docs/k/a', { a: 1 }), 401, 'unauthorized');
    ok(await h.api(s, 'PUT', '/v1/docs/k/a', { a: 1 }, auth), 201, 'with the key');
    h.assertError(await h.api(s, 'GET', '/v1/docs/k/a'), 401, 'unauthorized');
    h.assertError(await h.api(s, 'GET', '/v1/docs/k/a', undefined, { authorization: 'Bearer nope' }), 401, 'unauthorized');
    h.assertError(await h.api(s, 'GET', '/v1/docs/k?since=0'), 401, 'unauthorized');
    h.assertError(await h.api(s, 'PATCH', '/v1/docs/k/a', { a: 2 }), 401, 'unauthorized');
    h.assertError(await h.api(s, 'DELETE', '/v1/docs/k/a'), 401, 'unauthorized');
    h.assertError(await h.api(s, 'POST', '/v1/docs/k/a/ops', { ops: [{ op: 'incr', field: 'a' }] }), 401, 'unauthorized');
    assert.deepEqual(ok(await h.api(s, 'GET', '/v1/docs/k/a', undefined, auth), 200, 'read with the key').data, { a: 1 });
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('acknowledged document writes survive SIGKILL', { timeout: 120000 }, async (t) => {
  const s = await h.startServer();
  const c = 'crash';
  const RUNNERS = 12;
  const conns = await Promise.all(Array.from({ length: RUNNERS }, () => h.RawConn.connect(s)));
  ok(await put(s, c, 'counter', { n: 0 }), 201, 'counter');
  const acked = new Map(); // id -> {version, data}
  let incrAcked = 0;
  let incrSent = 0;
  let killing = null;
  const kill = () => { if (!killing) killing = s.kill(); return killing; };
  const timer = setTimeout(kill, 1500 + Math.floor(Math.random() * 1000));
  let next = 0;
  const runner = async (conn) => {
    while (!killing) {
      const i = next++;
      try {
        if (i % 2 === 0) {
          const id = `d${i}`;
          const data = { i, tags: [`t${i}`], nested: { k: i } };
          const r = await conn.request(h.httpRequest('PUT', doc(c, id), data), { timeoutMs: 30000 });
          if (r.status === 201) acked.set(id, { version: r.json.version, data });
          else if (r.status !== 503) throw new Error(`put ${id}: ${r.status} ${r.text}`);
        } else {
          incrSent++;
          const r = await conn.request(h.httpRequest('POST', doc(c, 'counter') + '/ops', { ops: [{ op: 'incr', field: 'n' }] }), { timeoutMs: 30000 });
          if (r.status === 200) incrAcked++;
          else if (r.status !== 503) throw new Error(`incr: ${r.status} ${r.text}`);
        }
        if (acked.size >= 3000) kill();
      } catch (e) {
        if (!killing) throw e;
      }
    }
  };
  const results = await Promise.allSettled(conns.map(runner));
  clearTimeout(timer);
  await kill();
  for (const conn of conns) conn.destroy();
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  t.diagnostic(`${acked.size} puts and ${incrAcked} of ${incrSent} incrs acknowledged before the kill`);
  assert.ok(acked.size > 0 && incrAcked > 0, 'writes were acknowledged before the kill');

  const s2 = await h.startServer({ dataDir: s.dataDir });
  try {
    const bad = [];
    const ids = [...acked.keys()];
    await h.pool(ids.length, 16, async (k) => {
      const id = ids[k];
      const r = await get(s2, c, id);
      const want = acked.get(id);
      if (r.status !== 200 || r.body.version !== want.version || !util.isDeepStrictEqual(r.body.data, want.data))
        bad.push(`${id}: ${r.status} ${JSON.stringify(r.body)}`);
    });
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} acknowledged documents missing or wrong`);
    const n = ok(await get(s2, c, 'counter'), 200, 'counter').data.n;
    assert.ok(n >= incrAcked && n <= incrSent, `counter ${n} within [${incrAcked}, ${incrSent}]`);
    // versions go on increasing after the restart
    const feed = ok(await h.api(s2, 'GET', `/v1/docs/${c}?since=0&limit=1000`), 200, 'feed');
    let top = feed.version;
    for (let since = top; ; since = top) {
      const more = ok(await h.api(s2, 'GET', `/v1/docs/${c}?since=${since}&limit=1000`), 200, 'feed');
      if (more.changes.length === 0) break;
      top = more.version;
    }
    const after = ok(await put(s2, c, 'after', { x: 1 }), 201, 'write after restart');
    assert.ok(after.version > top, `new version ${after.version} > top ${top}`);
  } finally {
    assert.equal(await s2.stop(), 0);
  }
});
