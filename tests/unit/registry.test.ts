/**
 * lib/image/registry.ts without a network: reference parsing by docker's
 * rules, WWW-Authenticate parsing, and pulls from a registry faked through
 * the injected fetch (token and basic auth, redirects, refusals).
 */
import test from 'ava';
import { createHash } from 'node:crypto';

import { MEDIA_TYPES, RegistryError, formatImageRef, parseChallenge, parseImageRef, pullImage } from '../../lib/image/registry.js';
import { memorySink } from '../helpers/registry.js';

const HEX = 'a'.repeat(64);

test('parseImageRef: docker hub short names, tags and digests', (t) => {
  const hub = 'registry-1.docker.io';
  t.deepEqual(parseImageRef('busybox'), { registry: hub, repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseImageRef('busybox:1.36'), { registry: hub, repository: 'library/busybox', tag: '1.36' });
  t.deepEqual(parseImageRef('library/busybox'), { registry: hub, repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseImageRef('docker.io/library/busybox:latest'), { registry: hub, repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseImageRef('docker.io/busybox'), { registry: hub, repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseImageRef('index.docker.io/user/app'), { registry: hub, repository: 'user/app', tag: 'latest' });
  t.deepEqual(parseImageRef('user/app:v1.0-rc_1'), { registry: hub, repository: 'user/app', tag: 'v1.0-rc_1' });
  t.deepEqual(parseImageRef(`busybox@sha256:${HEX}`), { registry: hub, repository: 'library/busybox', digest: `sha256:${HEX}` });
  t.deepEqual(parseImageRef(`busybox:1.36@sha256:${HEX}`), {
    registry: hub,
    repository: 'library/busybox',
    tag: '1.36',
    digest: `sha256:${HEX}`,
  });
});

test('parseImageRef: a first component with "." or ":", localhost, or capitals is the registry host', (t) => {
  t.deepEqual(parseImageRef('127.0.0.1:5000/repo:tag'), { registry: '127.0.0.1:5000', repository: 'repo', tag: 'tag' });
  t.deepEqual(parseImageRef('localhost/foo'), { registry: 'localhost', repository: 'foo', tag: 'latest' });
  t.deepEqual(parseImageRef('localhost:5000/a/b/c'), { registry: 'localhost:5000', repository: 'a/b/c', tag: 'latest' });
  t.deepEqual(parseImageRef('quay.io/org/app@sha256:' + HEX), { registry: 'quay.io', repository: 'org/app', digest: `sha256:${HEX}` });
  t.deepEqual(parseImageRef('[::1]:5000/x:y'), { registry: '[::1]:5000', repository: 'x', tag: 'y' });
  t.deepEqual(parseImageRef('Registry/x'), { registry: 'Registry', repository: 'x', tag: 'latest' });
  t.deepEqual(parseImageRef('my-registry.example.com:443/a.b/c__d/e--f'), {
    registry: 'my-registry.example.com:443',
    repository: 'a.b/c__d/e--f',
    tag: 'latest',
  });
  // docker's own quirk: with no "/", "localhost:5000" is the image library/localhost, tag 5000
  t.deepEqual(parseImageRef('localhost:5000'), { registry: 'registry-1.docker.io', repository: 'library/localhost', tag: '5000' });
  t.deepEqual(parseImageRef('foo/bar'), { registry: 'registry-1.docker.io', repository: 'foo/bar', tag: 'latest' });
});

test('parseImageRef refuses malformed references, naming them', (t) => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['BusyBox', /must be lowercase/],
    ['docker.io/Library/busybox', /must be lowercase/],
    ['busybox:', /malformed tag/],
    ['busybox:-x', /malformed tag/],
    [`busybox:${'t'.repeat(129)}`, /malformed tag/],
    ['a//b', /malformed repository name component ""/],
    ['/busybox', /malformed repository/],
    ['busybox/', /malformed repository/],
    ['quay.io/', /no repository name/],
    [':tag', /no repository name/],
    ['-foo', /malformed repository name component "-foo"/],
    ['a b', /malformed/],
    ['foo__-bar', /malformed repository/],
    ['busybox@sha256:abc', /64 lowercase hex/],
    [`busybox@sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`busybox@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm "sha512"/],
    ['busybox@', /malformed digest/],
    ['bad_host.io:x/repo', /malformed registry host/],
    ['host:port:/x', /malformed/],
    [`x.io/${'a'.repeat(251)}`, /longer than 255/],
  ];
  for (const [text, why] of cases) {
    const e = t.throws(() => parseImageRef(text), undefined, text);
    t.true(e!.message.startsWith(`invalid image reference ${JSON.stringify(text)}: `), e!.message);
    t.regex(e!.message, why, text);
  }
});

test('formatImageRef prints what parseImageRef read', (t) => {
  for (const text of [
    'docker.io/library/busybox:latest',
    '127.0.0.1:5000/a/b:v1',
    `quay.io/x@sha256:${HEX}`,
    `localhost/y:t@sha256:${HEX}`,
  ])
    t.is(formatImageRef(parseImageRef(text)), text);
});

test('parseChallenge: the scheme and its parameters, quoted commas and escapes included', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  t.deepEqual(parseChallenge('Basic realm="say \\"hi\\"", charset=UTF-8'), {
    scheme: 'basic',
    params: { realm: 'say "hi"', charset: 'UTF-8' },
  });
  t.deepEqual(parseChallenge('Basic'), { scheme: 'basic', params: {} });
  t.is(parseChallenge(''), undefined);
  t.is(parseChallenge(null), undefined);
});

// --- a registry faked through the injected fetch ---------------------------------------------------------------

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

interface Image {
  manifest: Buffer;
  digest: string;
  layers: Buffer[];
  config: Buffer;
}

function image(arch = 'amd64', layerMediaType: string = MEDIA_TYPES.ociLayerGzip): Image {
  const layers = [Buffer.from(`layer one ${arch}`), Buffer.from(`layer two ${arch}`)];
  const config = json({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) } });
  const manifest = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: layerMediaType, digest: sha256(l), size: l.length })),
  });
  return { manifest, digest: sha256(manifest), layers, config };
}

interface Call {
  url: URL;
  authorization: string | null;
}

/**
 * A registry at registry.example: manifests by tag or digest (the content
 * type given), blobs by digest; `guard` answers first (auth, redirects...).
 */
function fakeRegistry(
  manifests: Record<string, { body: Buffer; type: string }>,
  blobs: Buffer[],
  guard?: (call: Call) => Response | undefined,
) {
  const calls: Call[] = [];
  const byDigest = new Map(blobs.map((b) => [sha256(b), b]));
  for (const m of Object.values(manifests)) manifests[sha256(m.body)] ??= m;
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const call = { url, authorization: new Headers(init?.headers).get('authorization') };
    calls.push(call);
    const early = guard?.(call);
    if (early) return early;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (url.host === 'registry.example' && m?.[2] === 'manifests' && manifests[m[3]!])
      return new Response(manifests[m[3]!]!.body, { headers: { 'content-type': manifests[m[3]!]!.type } });
    if (m?.[2] === 'blobs' && byDigest.has(m[3]!)) return new Response(byDigest.get(m[3]!)!);
    return new Response(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: {} }] }), {
      status: 404,
      statusText: 'Not Found',
    });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

test('pullImage: a bearer challenge is answered by the token service once per pull; layers go to the sink once', async (t) => {
  const img = image();
  const tokens: URL[] = [];
  const reg = fakeRegistry({ v1: { body: img.manifest, type: MEDIA_TYPES.ociManifest } }, [img.config, ...img.layers], (call) => {
    if (call.url.host === 'auth.example') {
      tokens.push(call.url);
      if (call.authorization !== `Basic ${Buffer.from('me:pw').toString('base64')}`) return new Response('{}', { status: 401 });
      return new Response(JSON.stringify({ access_token: 'T0K' }));
    }
    if (call.authorization !== 'Bearer T0K')
      return new Response('{}', {
        status: 401,
        headers: {
          'www-authenticate': 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:org/app:pull"',
        },
      });
    return undefined;
  });
  const sink = memorySink();
  const pulled = await pullImage('registry.example/org/app:v1', sink, { fetch: reg.fetch, auth: { username: 'me', password: 'pw' } });
  t.is(pulled.manifestDigest, img.digest);
  t.is(pulled.configDigest, sha256(img.config));
  t.deepEqual(pulled.config, JSON.parse(img.config.toString()));
  t.deepEqual(new Set(sink.puts), new Set([img.digest, sha256(img.config), ...img.layers.map(sha256)]));
  t.is(tokens.length, 1, 'one token for the whole pull');
  t.is(tokens[0]!.searchParams.get('service'), 'registry.example');
  t.is(tokens[0]!.searchParams.get('scope'), 'repository:org/app:pull');
  t.true(
    reg.calls.every((c) => c.url.protocol === 'https:'),
    'https for a registry that is not this machine',
  );

  const before = sink.puts.length;
  reg.calls.length = 0;
  await pullImage('registry.example/org/app:v1', sink, { fetch: reg.fetch, auth: { username: 'me', password: 'pw' } });
  t.is(sink.puts.length, before, 'nothing stored again');
  t.false(
    reg.calls.some((c) => img.layers.some((l) => c.url.pathname.endsWith(sha256(l)))),
    'no layer fetched again',
  );
});

test('pullImage: a blob redirect is followed without the registry credentials', async (t) => {
  const img = image('amd64', MEDIA_TYPES.dockerLayerGzip);
  const layer = sha256(img.layers[0]!);
  const reg = fakeRegistry({ latest: { body: img.manifest, type: MEDIA_TYPES.ociManifest } }, [img.config, ...img.layers], (call) => {
    if (call.url.host === 'registry.example' && !call.authorization)
      return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } });
    if (call.url.pathname === `/v2/app/blobs/${layer}`)
      return new Response(null, { status: 307, headers: { location: `https://cdn.example/signed/${layer}?sig=1` } });
    if (call.url.host === 'cdn.example') {
      if (call.authorization) return new Response('two auth mechanisms', { status: 400 });
      return new Response(img.layers[0]!);
    }
    return undefined;
  });
  const sink = memorySink();
  await pullImage('registry.example/app', sink, { fetch: reg.fetch, auth: { username: 'u', password: 'p' } });
  t.true(sink.blobs.has(layer));
  t.true(reg.calls.some((c) => c.url.host === 'cdn.example' && c.authorization === null));
  t.true(reg.calls.filter((c) => c.url.host === 'registry.example').some((c) => c.authorization?.startsWith('Basic ')));

  const e = await t.throwsAsync(pullImage('registry.example/app', memorySink(), { fetch: reg.fetch }), { instanceOf: RegistryError });
  t.regex(e!.message, /^pull registry\.example\/app: GET \/v2\/app\/manifests\/latest: .*basic auth.*none were given/);
});

test('pullImage: an index is resolved to the platform; none matching lists the platforms there are', async (t) => {
  const amd = image('amd64');
  const arm = image('arm64');
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifestList,
    manifests: [
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: arm.digest,
        size: arm.manifest.length,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: amd.digest,
        size: amd.manifest.length,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  });
  const reg = fakeRegistry(
    {
      multi: { body: index, type: MEDIA_TYPES.dockerManifestList },
      [amd.digest]: { body: amd.manifest, type: MEDIA_TYPES.ociManifest },
      [arm.digest]: { body: arm.manifest, type: MEDIA_TYPES.ociManifest },
    },
    [amd.config, arm.config, ...amd.layers, ...arm.layers],
  );
  const sink = memorySink();
  const pulled = await pullImage('registry.example/x:multi', sink, { fetch: reg.fetch });
  t.is(pulled.manifestDigest, amd.digest);
  t.is(pulled.indexDigest, sha256(index));
  t.true(sink.blobs.has(sha256(index)), 'the index is stored too');
  t.false(sink.blobs.has(arm.digest));

  const arm64 = await pullImage('registry.example/x:multi', memorySink(), {
    fetch: reg.fetch,
    platform: { os: 'linux', architecture: 'arm64' },
  });
  t.is(arm64.manifestDigest, arm.digest);
  const v8 = await pullImage('registry.example/x:multi', memorySink(), {
    fetch: reg.fetch,
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  });
  t.is(v8.manifestDigest, arm.digest);

  await t.throwsAsync(
    pullImage('registry.example/x:multi', memorySink(), { fetch: reg.fetch, platform: { os: 'linux', architecture: 's390x' } }),
    {
      message:
        'pull registry.example/x:multi: GET /v2/x/manifests/multi: no manifest for linux/s390x in the index (available: linux/arm64/v8, linux/amd64)',
    },
  );
});

test('pullImage verifies manifest bytes against a pinned digest, and an index entry against its digest', async (t) => {
  const img = image();
  const other = `sha256:${'b'.repeat(64)}`;
  const reg = fakeRegistry({ [other]: { body: img.manifest, type: MEDIA_TYPES.ociManifest } }, [img.config, ...img.layers]);
  await t.throwsAsync(pullImage(`registry.example/x@${other}`, memorySink(), { fetch: reg.fetch }), {
    message: new RegExp(`GET /v2/x/manifests/${other}: manifest digest mismatch: the bytes hash to ${img.digest}, expected ${other}`),
  });
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [
      { mediaType: MEDIA_TYPES.ociManifest, digest: other, size: img.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  });
  const viaIndex = fakeRegistry(
    { i: { body: index, type: MEDIA_TYPES.ociIndex }, [other]: { body: img.manifest, type: MEDIA_TYPES.ociManifest } },
    [img.config, ...img.layers],
  );
  await t.throwsAsync(pullImage('registry.example/x:i', memorySink(), { fetch: viaIndex.fetch }), { message: /manifest digest mismatch/ });
});

test('pullImage refuses schema 1, malformed descriptors and non-image configs; registry errors carry their message', async (t) => {
  const schema1 = json({ schemaVersion: 1, name: 'x', tag: 'old', fsLayers: [] });
  const img = image();
  const evil = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(img.config), size: img.config.length },
    layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, digest: 'sha256:../../../etc/passwd', size: 1 }],
  });
  const artifact = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: sha256(img.config), size: img.config.length },
    layers: [],
  });
  const reg = fakeRegistry(
    {
      old: { body: schema1, type: MEDIA_TYPES.dockerSchema1Signed },
      evil: { body: evil, type: MEDIA_TYPES.ociManifest },
      chart: { body: artifact, type: MEDIA_TYPES.ociManifest },
    },
    [img.config],
  );
  const pull = (ref: string) => pullImage(ref, memorySink(), { fetch: reg.fetch });
  await t.throwsAsync(pull('registry.example/x:old'), {
    message: /GET \/v2\/x\/manifests\/old: a Docker schema 1 manifest, which is not supported/,
  });
  await t.throwsAsync(pull('registry.example/x:evil'), {
    message: /malformed manifest sha256:[0-9a-f]{64}: layers\[0\]\.digest: not a sha256 digest/,
  });
  await t.throwsAsync(pull('registry.example/x:chart'), {
    message: /not a container image: the config's media type is "application\/vnd\.cncf\.helm/,
  });
  const missing = await t.throwsAsync(pull('registry.example/x:nope'), { instanceOf: RegistryError });
  t.is(missing!.message, 'pull registry.example/x:nope: GET /v2/x/manifests/nope: 404 Not Found: manifest unknown');
  t.is(missing!.status, 404);
  t.is(missing!.path, '/v2/x/manifests/nope');
});

test('pullImage: a blob the store refuses fails the pull naming the blob path; plain http for loopback registries', async (t) => {
  const img = image();
  const reg = fakeRegistry({ latest: { body: img.manifest, type: MEDIA_TYPES.ociManifest } }, [img.config, img.layers[0]!], (call) => {
    // the second layer's bytes are not what its digest says
    if (call.url.pathname.endsWith(sha256(img.layers[1]!))) return new Response('tampered');
    return undefined;
  });
  const seen: string[] = [];
  const fetch = ((input: URL, init?: RequestInit) => {
    seen.push(input.origin);
    return reg.fetch(new URL(input.pathname, 'https://registry.example'), init);
  }) as typeof globalThis.fetch;
  const e = await t.throwsAsync(pullImage('127.0.0.1:5000/x', memorySink(), { fetch }), { instanceOf: RegistryError });
  t.deepEqual([...new Set(seen)], ['http://127.0.0.1:5000']);
  t.regex(
    e!.message,
    new RegExp(`^pull 127\\.0\\.0\\.1:5000/x: GET /v2/x/blobs/${sha256(img.layers[1]!)}: storing the layer: .*8 bytes, expected`),
  );
});
