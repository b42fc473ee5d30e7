/**
 * Pulling an image over the OCI distribution API, the protocol of `docker
 * pull`, with Node's global fetch and nothing else. Blobs go into a
 * content-addressed store the caller gives (a BlobSink), which checks every
 * digest and size itself; this file checks what it reads and parses itself
 * (manifests, the config) before trusting it.
 *
 *   pullImage                       registry                       token service (realm)
 *     | GET /v2/<repo>/manifests/<tag|digest>                                    |
 *     |------------------------------->|                                         |
 *     |  401 WWW-Authenticate: Bearer realm="…",service="…",scope="…"            |
 *     |<-------------------------------|                                         |
 *     | GET <realm>?service=…&scope=repository:<repo>:pull  (Basic if credentials)
 *     |------------------------------------------------------------------------->|
 *     |                               200 {"token": …} or {"access_token": …}    |
 *     |<-------------------------------------------------------------------------|
 *     | the same GET, Authorization: Bearer <token> (kept for the rest of the pull)
 *     |------------------------------->|
 *     | an index: the platform's manifest, GET by digest and verified
 *     | GET /v2/<repo>/blobs/<config digest>, then each layer the sink lacks;
 *     |   a 3xx (to a CDN) is followed by hand: Authorization goes to the registry's
 *     |   origin only, never to the signed URL it redirects to
 */
import { createHash } from 'node:crypto';

import { TsrunError } from '../errors.js';

/** The media types a pull reads, and the ones it refuses by name. */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList];
const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig];
/** What a manifest GET accepts; schema 1 is left out, so a registry that can convert sends schema 2. */
const ACCEPT = [...MANIFEST_TYPES, ...INDEX_TYPES].join(', ');

/** containerd's cap on a manifest: a registry must not make a pull buffer gigabytes. */
const MANIFEST_MAX = 4 << 20;
/** A config carries the history of every layer; real ones are kilobytes. */
const CONFIG_MAX = 16 << 20;
const REDIRECTS_MAX = 10;

export interface BlobSink {
  /** true when the content-addressed store already has this blob (digest "sha256:<hex>") */
  has(digest: string): boolean;
  /** stores a blob: the store hashes the bytes and refuses (throws) a digest or size mismatch; resolves once stored */
  put(digest: string, body: AsyncIterable<Uint8Array>, size?: number): Promise<void>;
}

/** A parsed reference; `registry` is the host to talk to ("registry-1.docker.io", "127.0.0.1:5000"). */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** An image manifest, OCI or Docker schema 2 (the same shape). OCI lets `mediaType` be absent. */
export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface IndexEntry extends Descriptor {
  platform?: Platform;
}

export interface PullOptions {
  /** plain http instead of https: default true only for localhost/127.0.0.1/::1 registries */
  insecure?: boolean;
  /** credentials for basic auth or for the token service */
  auth?: { username: string; password: string };
  /** the platform an index is resolved to; default linux/amd64 */
  platform?: Platform;
  /** default globalThis.fetch */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface Pulled {
  /** the digest of the image manifest (the platform's, when the reference named an index) */
  manifestDigest: string;
  manifest: OciManifest;
  /** the parsed image config JSON */
  config: unknown;
  configDigest: string;
  /** the digest of the index or manifest list the reference named, if it named one */
  indexDigest?: string;
}

/** A failed pull: the reference, and the registry path (and HTTP status) that failed, when one did. */
/** A pull that failed: a TsrunError (EIMAGE) naming the reference and the request. */
export class RegistryError extends TsrunError {
  readonly ref: string;
  readonly path: string | undefined;
  readonly status: number | undefined;
  constructor(ref: string, path: string | undefined, message: string, options?: { cause?: unknown; status?: number }) {
    super('EIMAGE', `pull ${ref}: ${path ? `GET ${path}: ` : ''}${message}`, options);
    this.name = 'RegistryError';
    this.ref = ref;
    this.path = path;
    this.status = options?.status;
  }
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_HOST = 'registry-1.docker.io';
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const DIGEST_SHAPE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const TAG = /^\w[\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
/** distribution/reference's limit on domain + "/" + path. */
const NAME_MAX = 255;

/**
 * Parses a reference by docker's rules: "busybox" is docker.io/library/busybox:latest
 * (host registry-1.docker.io); a first component with "." or ":", "localhost",
 * or with capitals is a registry host ("127.0.0.1:5000/repo:tag"); "@sha256:…"
 * pins a digest (a tag beside it is kept but the digest wins).
 */
export function parseImageRef(text: string): ImageRef {
  const bad = (why: string) => new Error(`invalid image reference ${JSON.stringify(text)}: ${why}`);
  if (typeof text !== 'string' || text === '') throw bad('empty');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SHAPE.test(digest)) throw bad(`malformed digest ${JSON.stringify(digest)}`);
    if (!digest.startsWith('sha256:')) throw bad(`unsupported digest algorithm ${JSON.stringify(digest.split(':')[0])} (sha256 only)`);
    if (!SHA256.test(digest)) throw bad('a sha256 digest is 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`malformed tag ${JSON.stringify(tag)}`);
  }
  let domain = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DOCKER_HUB;
  if (domain !== DOCKER_HUB && !HOST.test(domain)) throw bad(`malformed registry host ${JSON.stringify(domain)}`);
  if (domain === DOCKER_HUB && repository !== '' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '') throw bad('no repository name');
  for (const c of repository.split('/')) {
    if (PATH_COMPONENT.test(c)) continue;
    if (PATH_COMPONENT.test(c.toLowerCase())) throw bad('repository name must be lowercase');
    throw bad(`malformed repository name component ${JSON.stringify(c)}`);
  }
  if (domain.length + 1 + repository.length > NAME_MAX) throw bad(`name longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageRef = { registry: domain === DOCKER_HUB ? DOCKER_HUB_HOST : domain, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** A reference as docker prints it: docker.io/library/busybox:latest, 127.0.0.1:5000/x@sha256:… */
export function formatImageRef(ref: ImageRef): string {
  const host = ref.registry === DOCKER_HUB_HOST ? DOCKER_HUB : ref.registry;
  return `${host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** Whether `registry` ("host[:port]") is this machine by name: the registries pulled from over plain http by default. */
function isLoopback(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '127.0.0.1' || host === '::1';
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The first challenge of a WWW-Authenticate header (RFC 7235): `Bearer realm="…",service="…"`; scheme lowercased. */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  const m = /^\s*([A-Za-z][\w.+-]*)(?:\s+|$)/.exec(header ?? '');
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const param = /\s*([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  param.lastIndex = m[0].length;
  for (let p; (p = param.exec(header!));) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
    if (param.lastIndex >= header!.length) break;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A response's body, at most `max` bytes; `truncated` when there was more (the rest is not read). */
async function readBody(res: Response, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  if (!res.body) return { bytes: Buffer.alloc(0), truncated: false };
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: Buffer.concat(parts), truncated: false };
      size += value.byteLength;
      if (size > max) return { bytes: Buffer.concat(parts), truncated: true };
      parts.push(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** A response body as the sink reads it; the reader is cancelled if the sink stops early. */
async function* chunks(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** One pull's HTTP client for one repository: redirects by hand, and the authorization it obtained kept for the pull. */
class Client {
  private authorization: string | undefined;
  private readonly base: URL;
  private readonly fetch: typeof fetch;

  constructor(
    private readonly ref: ImageRef,
    private readonly refText: string,
    private readonly opts: PullOptions & { insecure: boolean },
  ) {
    this.base = new URL(`${opts.insecure ? 'http' : 'https'}://${ref.registry}/`);
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  error(path: string | undefined, message: string, options?: { cause?: unknown; status?: number }): RegistryError {
    return new RegistryError(this.refText, path, message, options);
  }

  /** GET `path` (/v2/…); a 401 is answered once with the challenge's credentials; anything but 2xx throws. */
  async get(path: string, headers: Record<string, string>): Promise<Response> {
    const url = new URL(path, this.base);
    let res = await this.send(path, url, headers);
    if (res.status === 401) {
      const header = res.headers.get('www-authenticate');
      await res.body?.cancel().catch(() => {});
      this.authorization = await this.authorize(path, parseChallenge(header));
      res = await this.send(path, url, headers);
    }
    if (!res.ok) throw await this.failure(path, res);
    return res;
  }

  private async send(path: string, url: URL, headers: Record<string, string>): Promise<Response> {
    for (let hops = 0; ; hops++) {
      const h = new Headers(headers);
      // the registry's credentials are for the registry: a redirect to a CDN carries its own signature
      if (this.authorization && url.origin === this.base.origin) h.set('authorization', this.authorization);
      let res: Response;
      try {
        res = await this.fetch(url, { headers: h, redirect: 'manual', signal: this.opts.signal });
      } catch (e) {
        if (this.opts.signal?.aborted) throw e;
        const cause = (e as { cause?: { message?: string } }).cause?.message;
        throw this.error(path, `${url.origin}: ${(e as Error).message}${cause ? ` (${cause})` : ''}`, { cause: e });
      }
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      if (!location) return res;
      await res.body?.cancel().catch(() => {});
      if (hops >= REDIRECTS_MAX) throw this.error(path, `more than ${REDIRECTS_MAX} redirects`);
      url = new URL(location, url);
    }
  }

  /** The Authorization header value a challenge asks for. */
  private async authorize(path: string, challenge: Challenge | undefined): Promise<string> {
    const creds = this.opts.auth;
    if (challenge?.scheme === 'basic') {
      if (!creds)
        throw this.error(path, '401 Unauthorized: the registry asks for credentials (basic auth) and none were given', { status: 401 });
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (challenge?.scheme !== 'bearer') {
      const what = challenge ? `an unsupported authentication scheme ${JSON.stringify(challenge.scheme)}` : 'no WWW-Authenticate challenge';
      throw this.error(path, `401 Unauthorized with ${what}`, { status: 401 });
    }
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error(realm.protocol);
    } catch {
      throw this.error(
        path,
        `401 Unauthorized with a bearer challenge whose realm is no http(s) URL: ${JSON.stringify(challenge.params.realm)}`,
      );
    }
    // credentials travel as plain text over http: only where the registry itself is plain http
    if (creds && realm.protocol === 'http:' && !this.opts.insecure)
      throw this.error(path, `refusing to send credentials to the token service ${realm.origin} over plain http`);
    if (challenge.params.service !== undefined) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', `repository:${this.ref.repository}:pull`);
    const where = `token service ${realm.origin}${realm.pathname}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    let res: Response;
    try {
      res = await this.fetch(realm, { headers, signal: this.opts.signal });
    } catch (e) {
      if (this.opts.signal?.aborted) throw e;
      throw this.error(path, `${where}: ${(e as Error).message}`, { cause: e });
    }
    const { bytes } = await readBody(res, MANIFEST_MAX);
    if (!res.ok) throw this.error(path, `${where}: ${res.status} ${res.statusText}${detail(bytes)}`, { status: res.status });
    let token: unknown;
    try {
      const body = JSON.parse(bytes.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = body.token || body.access_token;
    } catch {
      /* reported below */
    }
    if (typeof token !== 'string' || token === '') throw this.error(path, `${where}: the answer has no token`);
    return `Bearer ${token}`;
  }

  private async failure(path: string, res: Response): Promise<RegistryError> {
    const { bytes } = await readBody(res, 64 << 10);
    return this.error(path, `${res.status} ${res.statusText}${detail(bytes)}`, { status: res.status });
  }
}

/** What an error body says: a registry's `errors[].message`, a token service's `details`, or short plain text. */
function detail(bytes: Buffer): string {
  const text = bytes.toString('utf8').trim();
  try {
    const body = JSON.parse(text) as { errors?: { message?: unknown; code?: unknown }[]; details?: unknown };
    const messages = Array.isArray(body.errors) ? body.errors.map((e) => e?.message || e?.code).filter((m) => typeof m === 'string') : [];
    if (typeof body.details === 'string') messages.push(body.details);
    if (messages.length > 0) return `: ${messages.join('; ')}`;
  } catch {
    /* not JSON */
  }
  return text && text.length <= 200 && !text.includes('<') ? `: ${text}` : '';
}

/** `v` as a descriptor, or an error naming `where` (a JSON path in the manifest). */
function descriptor(v: unknown, where: string): string | undefined {
  if (typeof v !== 'object' || v === null) return `${where}: not a descriptor`;
  const d = v as Partial<Descriptor>;
  if (typeof d.mediaType !== 'string') return `${where}.mediaType: not a string`;
  // digests become URL paths here and file names in the store: one exact shape only
  if (typeof d.digest !== 'string' || !SHA256.test(d.digest)) return `${where}.digest: not a sha256 digest: ${JSON.stringify(d.digest)}`;
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    return `${where}.size: not a byte count: ${JSON.stringify(d.size)}`;
  return undefined;
}

interface Fetched {
  digest: string;
  bytes: Buffer;
  kind: 'index' | 'manifest';
  json: Record<string, unknown>;
}

/** GET a manifest by tag or digest, checked against `expect` and for its kind. */
async function getManifest(client: Client, repo: string, reference: string, expect?: string): Promise<Fetched> {
  const path = `/v2/${repo}/manifests/${reference}`;
  const res = await client.get(path, { accept: ACCEPT });
  const { bytes, truncated } = await readBody(res, MANIFEST_MAX);
  if (truncated) throw client.error(path, `the manifest is larger than ${MANIFEST_MAX} bytes`);
  const digest = sha256(bytes);
  if (expect !== undefined && digest !== expect)
    throw client.error(path, `manifest digest mismatch: the bytes hash to ${digest}, expected ${expect}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
  } catch (e) {
    throw client.error(path, `the manifest is not a JSON object: ${(e as Error).message}`);
  }
  const contentType = res.headers.get('content-type')?.split(';')[0]!.trim();
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
  if (json.schemaVersion === 1 || mediaType === MEDIA_TYPES.dockerSchema1 || mediaType === MEDIA_TYPES.dockerSchema1Signed)
    throw client.error(
      path,
      'a Docker schema 1 manifest, which is not supported (deprecated since 2017: push the image again with a current client)',
    );
  let kind: Fetched['kind'];
  if (mediaType && INDEX_TYPES.includes(mediaType)) kind = 'index';
  else if (mediaType && MANIFEST_TYPES.includes(mediaType)) kind = 'manifest';
  else if (Array.isArray(json.manifests)) kind = 'index';
  else if (json.config !== undefined && Array.isArray(json.layers)) kind = 'manifest';
  else throw client.error(path, `unsupported manifest media type ${JSON.stringify(mediaType)}`);
  if (json.schemaVersion !== 2) throw client.error(path, `unsupported manifest schemaVersion ${JSON.stringify(json.schemaVersion)}`);
  const problem =
    kind === 'index'
      ? Array.isArray(json.manifests)
        ? json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)).find(Boolean)
        : 'manifests: not an array'
      : (descriptor(json.config, 'config') ??
        (Array.isArray(json.layers) ? json.layers.map((l, i) => descriptor(l, `layers[${i}]`)).find(Boolean) : 'layers: not an array'));
  if (problem) throw client.error(path, `malformed manifest ${digest}: ${problem}`);
  return { digest, bytes, kind, json };
}

const platformName = (p: Platform | undefined) => (p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'no platform');

/** arm64's one variant is v8: an entry without a variant is the same platform. */
const variantOf = (p: Platform) => (p.architecture === 'arm64' && p.variant === 'v8' ? undefined : p.variant);

/** The index entry for `want`: os and architecture equal, the variant too when one is asked for (an unvariant entry first otherwise). */
function choosePlatform(entries: IndexEntry[], want: Platform): IndexEntry | undefined {
  const fits = entries.filter(
    (e) =>
      MANIFEST_TYPES.includes(e.mediaType) &&
      e.platform?.os === want.os &&
      e.platform.architecture === want.architecture &&
      (want.variant === undefined || variantOf(e.platform) === variantOf(want)),
  );
  return fits.find((e) => variantOf(e.platform!) === undefined) ?? fits[0];
}

async function store(sink: BlobSink, digest: string, bytes: Uint8Array): Promise<void> {
  if (sink.has(digest)) return;
  await sink.put(
    digest,
    (async function* () {
      yield bytes;
    })(),
    bytes.byteLength,
  );
}

/**
 * Pulls `ref` into `sink`: the manifest (resolved to `opts.platform` through
 * an index, which is stored too), the config, and every layer the sink does
 * not have yet, one after another, each streamed into `sink.put` with its
 * descriptor's size. Failures are RegistryErrors naming the reference and
 * the registry path.
 */
export async function pullImage(ref: string | ImageRef, sink: BlobSink, opts: PullOptions = {}): Promise<Pulled> {
  const parsed = typeof ref === 'string' ? parseImageRef(ref) : { ...ref };
  if (parsed.registry === DOCKER_HUB || parsed.registry === 'index.docker.io') parsed.registry = DOCKER_HUB_HOST;
  const refText = typeof ref === 'string' ? ref : formatImageRef(parsed);
  const reference = parsed.digest ?? parsed.tag;
  if (reference === undefined) throw new RegistryError(refText, undefined, 'the reference has neither a tag nor a digest');
  const client = new Client(parsed, refText, { ...opts, insecure: opts.insecure ?? isLoopback(parsed.registry) });
  const repo = parsed.repository;
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };

  let top = await getManifest(client, repo, reference, parsed.digest);
  let indexDigest: string | undefined;
  if (top.kind === 'index') {
    const entries = top.json.manifests as IndexEntry[];
    const entry = choosePlatform(entries, platform);
    if (!entry) {
      const available = entries.map((e) => platformName(e.platform)).join(', ') || 'none';
      throw client.error(
        `/v2/${repo}/manifests/${reference}`,
        `no manifest for ${platformName(platform)} in the index (available: ${available})`,
      );
    }
    await store(sink, top.digest, top.bytes);
    indexDigest = top.digest;
    top = await getManifest(client, repo, entry.digest, entry.digest);
    if (top.kind !== 'manifest') throw client.error(`/v2/${repo}/manifests/${entry.digest}`, 'an index inside an index is not supported');
  }
  const manifest = top.json as unknown as OciManifest;
  const manifestPath = `/v2/${repo}/manifests/${top.digest}`;
  if (!CONFIG_TYPES.includes(manifest.config.mediaType))
    throw client.error(manifestPath, `not a container image: the config's media type is ${JSON.stringify(manifest.config.mediaType)}`);

  const configPath = `/v2/${repo}/blobs/${manifest.config.digest}`;
  if (manifest.config.size > CONFIG_MAX) throw client.error(manifestPath, `the config is larger than ${CONFIG_MAX} bytes`);
  const res = await client.get(configPath, { accept: manifest.config.mediaType, 'accept-encoding': 'identity' });
  const { bytes, truncated } = await readBody(res, manifest.config.size);
  if (truncated || bytes.byteLength !== manifest.config.size)
    throw client.error(configPath, `the config's size is not the manifest's ${manifest.config.size} bytes`);
  if (sha256(bytes) !== manifest.config.digest) throw client.error(configPath, `the config's bytes hash to ${sha256(bytes)}`);
  let config: { rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(bytes.toString('utf8')) as typeof config;
  } catch (e) {
    throw client.error(configPath, `the config is not JSON: ${(e as Error).message}`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (Array.isArray(diffIds) && diffIds.length !== manifest.layers.length)
    throw client.error(configPath, `the config lists ${diffIds.length} layer diff_ids for the manifest's ${manifest.layers.length} layers`);
  await store(sink, top.digest, top.bytes);
  await store(sink, manifest.config.digest, bytes);

  for (const layer of manifest.layers) {
    if (sink.has(layer.digest)) continue;
    const path = `/v2/${repo}/blobs/${layer.digest}`;
    // identity: fetch would otherwise undo a Content-Encoding a CDN put on a .tar.gz, and the digest would not match
    const res = await client.get(path, { accept: '*/*', 'accept-encoding': 'identity' });
    const body = chunks(res.body);
    try {
      await sink.put(layer.digest, body, layer.size);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw client.error(path, `storing the layer: ${(e as Error).message}`, { cause: e });
    } finally {
      await body.return(undefined);
      await res.body?.cancel().catch(() => {});
    }
  }
  const pulled: Pulled = { manifestDigest: top.digest, manifest, config, configDigest: manifest.config.digest };
  if (indexDigest !== undefined) pulled.indexDigest = indexDigest;
  return pulled;
}
