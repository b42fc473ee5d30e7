/**
 * pullImage against a real registry: Debian's docker-registry (distribution
 * 2.8) on 127.0.0.1, images pushed by skopeo from a busybox-static OCI
 * layout (tests/helpers/registry.ts). A second registry runs with token auth,
 * its JWTs signed by a token service in this process, so a pull must really
 * get and present a token the registry accepts. scripts/setup.sh installs
 * docker-registry and skopeo: without them the suite fails, saying so,
 * rather than skip.
 */
import test from 'ava';
import { createHash, generateKeyPairSync } from 'node:crypto';

import { MEDIA_TYPES, RegistryError, parseChallenge, pullImage } from '../../lib/image/registry.js';
import { have } from '../helpers/engine.js';
import { type Registry, TOKEN_USER, freePort, memorySink, pushBusybox, startRegistry } from '../helpers/registry.js';

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const missing = ['docker-registry', 'skopeo'].filter((b) => !have(b));

let plain: Registry | undefined;
let tokened: Registry | undefined;

test.before(async () => {
  if (missing.length > 0) throw new Error(`${missing.join(' and ')} not installed: run scripts/setup.sh`);
  [plain, tokened] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
});

test.after.always(async () => {
  await Promise.all([plain?.stop(), tokened?.stop()]);
});

/** A fetch that records the path of every request. */
function recording(): { fetch: typeof fetch; paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    fetch: ((input: URL | string, init?: RequestInit) => {
      paths.push(new URL(input).pathname);
      return fetch(input, init);
    }) as typeof fetch,
  };
}

test.serial('a pushed busybox pulls into the sink: manifest, config and layers by digest; a second pull stores nothing', async (t) => {
  const host = plain!.host;
  const pushed = await pushBusybox(host, 'tsrun/busybox');
  const image = pushed.images['linux/amd64']!;
  t.is(pushed.digest, image.manifest, 'skopeo pushed the layout as written');

  const sink = memorySink();
  const pulled = await pullImage(`${host}/tsrun/busybox`, sink);
  t.is(pulled.manifestDigest, image.manifest);
  t.is(pulled.configDigest, image.config);
  t.is(pulled.indexDigest, undefined);
  t.is(pulled.manifest.mediaType, MEDIA_TYPES.ociManifest);
  t.deepEqual(
    pulled.manifest.layers.map((l) => l.digest),
    image.layers,
  );
  t.true(pulled.manifest.layers.every((l) => l.mediaType === MEDIA_TYPES.ociLayerGzip));
  const config = pulled.config as { architecture: string; os: string; rootfs: { type: string; diff_ids: string[] } };
  t.is(config.architecture, 'amd64');
  t.deepEqual(config.rootfs, { type: 'layers', diff_ids: image.diffIds });
  // every blob in the sink, each hashed by the sink on the way in
  t.deepEqual(new Set(sink.blobs.keys()), new Set([image.manifest, image.config, ...image.layers]));
  t.is(sha256(sink.blobs.get(image.manifest)!), image.manifest);
  t.deepEqual(JSON.parse(sink.blobs.get(image.manifest)!.toString()), pulled.manifest);

  const again = recording();
  const puts = sink.puts.length;
  const second = await pullImage(`${host}/tsrun/busybox:latest`, sink, { fetch: again.fetch });
  t.is(second.manifestDigest, image.manifest);
  t.is(sink.puts.length, puts, 'nothing stored again');
  t.deepEqual(
    again.paths.filter((p) => image.layers.some((l) => p.endsWith(l))),
    [],
    'no layer fetched again',
  );

  const byDigest = await pullImage(`${host}/tsrun/busybox@${image.manifest}`, memorySink());
  t.is(byDigest.configDigest, image.config);
});

test.serial('a missing tag or repository fails naming the reference and the path', async (t) => {
  const host = plain!.host;
  await pushBusybox(host, 'tsrun/here');
  const tag = await t.throwsAsync(pullImage(`${host}/tsrun/here:nope`, memorySink()), { instanceOf: RegistryError });
  t.is(tag!.message, `pull ${host}/tsrun/here:nope: GET /v2/tsrun/here/manifests/nope: 404 Not Found: manifest unknown`);
  t.is(tag!.status, 404);
  const repo = await t.throwsAsync(pullImage(`${host}/tsrun/nowhere`, memorySink()), { instanceOf: RegistryError });
  // distribution 2.8 answers an unknown repository's manifest with MANIFEST_UNKNOWN, not NAME_UNKNOWN
  t.is(repo!.message, `pull ${host}/tsrun/nowhere: GET /v2/tsrun/nowhere/manifests/latest: 404 Not Found: manifest unknown`);
  // a port nothing listens on (not port 1: fetch refuses the spec's "bad ports" before connecting)
  const port = await freePort();
  const closed = await t.throwsAsync(pullImage(`127.0.0.1:${port}/x`, memorySink()), { instanceOf: RegistryError });
  t.regex(
    closed!.message,
    new RegExp(`^pull 127.0.0.1:${port}/x: GET /v2/x/manifests/latest: http://127.0.0.1:${port}: fetch failed \\(.*ECONNREFUSED`),
  );
});

test.serial(
  'an OCI index resolves to linux/amd64 by default, to another platform when asked; shared layers are fetched once',
  async (t) => {
    const host = plain!.host;
    const pushed = await pushBusybox(host, 'tsrun/multi', {
      platforms: [
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    const amd = pushed.images['linux/amd64']!;
    const arm = pushed.images['linux/arm64/v8']!;
    t.not(amd.manifest, arm.manifest);

    const sink = memorySink();
    const pulled = await pullImage(`${host}/tsrun/multi`, sink);
    t.is(pulled.indexDigest, pushed.digest);
    t.is(pulled.manifestDigest, amd.manifest);
    t.is((pulled.config as { architecture: string }).architecture, 'amd64');
    t.true(sink.blobs.has(pushed.digest), 'the index is in the store, for an offline lookup of the tag');
    t.false(sink.blobs.has(arm.manifest));

    const seen = recording();
    const arm64 = await pullImage(`${host}/tsrun/multi`, sink, { platform: { os: 'linux', architecture: 'arm64' }, fetch: seen.fetch });
    t.is(arm64.manifestDigest, arm.manifest);
    t.is(amd.layers[0], arm.layers[0], 'the busybox layer is shared');
    t.false(
      seen.paths.some((p) => p.endsWith(arm.layers[0]!)),
      'the shared layer was not fetched again',
    );
    t.true(seen.paths.some((p) => p.endsWith(arm.layers[1]!)));

    await t.throwsAsync(pullImage(`${host}/tsrun/multi`, memorySink(), { platform: { os: 'linux', architecture: 'riscv64' } }), {
      message: `pull ${host}/tsrun/multi: GET /v2/tsrun/multi/manifests/latest: no manifest for linux/riscv64 in the index (available: linux/arm64/v8, linux/amd64)`,
    });
  },
);

test.serial('Docker schema 2 images and a Docker manifest list PUT by hand pull too', async (t) => {
  const host = plain!.host;
  const amd = await pushBusybox(host, 'tsrun/docker', { tag: 'amd64', format: 'v2s2' });
  const arm = await pushBusybox(host, 'tsrun/docker', {
    tag: 'arm',
    format: 'v2s2',
    platforms: [{ os: 'linux', architecture: 'arm', variant: 'v7' }],
  });

  const single = await pullImage(`${host}/tsrun/docker:amd64`, memorySink());
  t.is(single.manifestDigest, amd.digest);
  t.is(single.manifest.mediaType, MEDIA_TYPES.dockerManifest);
  t.is(single.manifest.config.mediaType, MEDIA_TYPES.dockerConfig);
  t.true(single.manifest.layers.every((l) => l.mediaType === MEDIA_TYPES.dockerLayerGzip));
  t.deepEqual((single.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, amd.images['linux/amd64']!.diffIds);

  const size = async (digest: string) => {
    const res = await fetch(`http://${host}/v2/tsrun/docker/manifests/${digest}`, { headers: { accept: MEDIA_TYPES.dockerManifest } });
    return (await res.arrayBuffer()).byteLength;
  };
  const list = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifestList,
    manifests: [
      {
        mediaType: MEDIA_TYPES.dockerManifest,
        digest: arm.digest,
        size: await size(arm.digest),
        platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      },
      {
        mediaType: MEDIA_TYPES.dockerManifest,
        digest: amd.digest,
        size: await size(amd.digest),
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  });
  const put = await fetch(`http://${host}/v2/tsrun/docker/manifests/latest`, {
    method: 'PUT',
    headers: { 'content-type': MEDIA_TYPES.dockerManifestList },
    body: list,
  });
  t.is(put.status, 201, await put.text());
  t.is(put.headers.get('docker-content-digest'), sha256(Buffer.from(list)));

  const pulled = await pullImage(`${host}/tsrun/docker`, memorySink());
  t.is(pulled.indexDigest, sha256(Buffer.from(list)));
  t.is(pulled.manifestDigest, amd.digest);
  const armPulled = await pullImage(`${host}/tsrun/docker@${sha256(Buffer.from(list))}`, memorySink(), {
    platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
  });
  t.is(armPulled.manifestDigest, arm.digest);
});

test.serial('token auth: a pull gets one token from the realm and the registry accepts it; without one the registry refuses', async (t) => {
  const { host, token } = tokened!;
  const service = token!;
  const pushed = await pushBusybox(host, 'tsrun/private', { auth: TOKEN_USER });
  const image = pushed.images['linux/amd64']!;

  const asked = service.requests.length;
  const sink = memorySink();
  const pulled = await pullImage(`${host}/tsrun/private`, sink, { auth: TOKEN_USER });
  t.is(pulled.manifestDigest, image.manifest);
  t.deepEqual(new Set(sink.blobs.keys()), new Set([image.manifest, image.config, ...image.layers]));
  const requests = service.requests.slice(asked);
  t.is(requests.length, 1, 'one token for the whole pull');
  t.is(requests[0]!.searchParams.get('scope'), 'repository:tsrun/private:pull');
  t.is(requests[0]!.searchParams.get('service'), 'tsrun-test-registry');

  // no credentials: the token service refuses, and the pull says where it failed
  const anonymous = await t.throwsAsync(pullImage(`${host}/tsrun/private`, memorySink()), { instanceOf: RegistryError });
  t.regex(
    anonymous!.message,
    new RegExp(
      `^pull ${host}/tsrun/private: GET /v2/tsrun/private/manifests/latest: token service ${service.realm}: 401 Unauthorized: wrong or missing credentials`,
    ),
  );

  // the registry itself checks: no token, a token signed by a key it does not trust, a token for another repository
  const manifest = (authorization?: string) =>
    fetch(`http://${host}/v2/tsrun/private/manifests/latest`, {
      headers: { accept: MEDIA_TYPES.ociManifest, ...(authorization ? { authorization } : {}) },
    });
  const bare = await manifest();
  t.is(bare.status, 401);
  t.like(parseChallenge(bare.headers.get('www-authenticate')), {
    scheme: 'bearer',
    params: { realm: service.realm, service: 'tsrun-test-registry' },
  });
  const pull = [{ type: 'repository', name: 'tsrun/private', actions: ['pull'] }];
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  t.is((await manifest(`Bearer ${service.sign(pull, stranger)}`)).status, 401, 'a token the trusted key did not sign');
  t.is(
    (await manifest(`Bearer ${service.sign([{ type: 'repository', name: 'tsrun/other', actions: ['pull'] }])}`)).status,
    401,
    'a token for another repository',
  );
  t.is((await manifest(`Bearer ${service.sign(pull)}`)).status, 200, 'a good token');
});
