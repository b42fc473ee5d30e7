/**
 * A real registry for the pull tests: Debian's docker-registry (distribution
 * 2.8) on 127.0.0.1 with a private temp dir for storage and config, no TLS.
 * In token mode the registry checks JWTs the way Docker Hub's does, and the
 * token service is a node:http server in the test process that signs them
 * with an EC key generated here; the registry trusts that key through an
 * x509 certificate of it (openssl req -x509) and finds the certificate in
 * each token's x5c header. Images are pushed with skopeo from an OCI layout
 * written here, from the busybox-static rootfs of bundle.ts, so no podman or
 * containers/storage state is touched.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import type { BlobSink } from '../../lib/image/registry.js';
import { busyboxRootfs } from './bundle.js';
import { hostLeftovers } from './podman.js';
import { until, waitFor } from './wait.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

const sha256 = (b: Uint8Array) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

/** A BlobSink over a Map, strict as a real store: it hashes what it is given and refuses a wrong digest or size. */
export function memorySink(): BlobSink & { blobs: Map<string, Buffer>; puts: string[] } {
  const blobs = new Map<string, Buffer>();
  const puts: string[] = [];
  return {
    blobs,
    puts,
    has: (digest) => blobs.has(digest),
    async put(digest, body, size) {
      const parts: Uint8Array[] = [];
      for await (const chunk of body) parts.push(chunk);
      const bytes = Buffer.concat(parts);
      if (size !== undefined && bytes.byteLength !== size) throw new Error(`${digest}: ${bytes.byteLength} bytes, expected ${size}`);
      if (sha256(bytes) !== digest) throw new Error(`${digest}: the bytes hash to ${sha256(bytes)}`);
      blobs.set(digest, bytes);
      puts.push(digest);
    },
  };
}

/** The credentials the token service accepts; it refuses every other request. */
export const TOKEN_USER = { username: 'tester', password: 'not-a-secret' };
const SERVICE = 'tsrun-test-registry';
const ISSUER = 'tsrun-test-token-service';

export interface TokenService {
  /** the realm the registry sends clients to */
  realm: string;
  /** every request the token service answered, in order */
  requests: URL[];
  /** a JWT for `access` signed with `key` (default: the key the registry trusts, with its certificate in x5c) */
  sign(access: { type: string; name: string; actions: string[] }[], key?: crypto.KeyObject): string;
}

export interface Registry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** set in token mode */
  token?: TokenService;
  stop(): Promise<void>;
}

/** A port on 127.0.0.1 nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The token service: Basic TOKEN_USER only, every action asked for granted, ES256 tokens valid for five minutes. */
async function startTokenService(dir: string): Promise<{ service: TokenService; server: http.Server; certFile: string }> {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const openssl = spawnSync(
    'openssl',
    ['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${ISSUER}`, '-days', '2', '-out', certFile],
    {
      encoding: 'utf8',
    },
  );
  if (openssl.status !== 0) throw new Error(`openssl req -x509: ${openssl.stderr || openssl.error?.message}`);
  const certDer = new crypto.X509Certificate(fs.readFileSync(certFile)).raw;

  const requests: URL[] = [];
  const sign: TokenService['sign'] = (access, key = privateKey) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: ISSUER,
      sub: TOKEN_USER.username,
      aud: SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const input = `${b64url(header)}.${b64url(claims)}`;
    // JWS wants ES256's r||s, not the DER node:crypto signs with by default
    return `${input}.${crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const basic = `Basic ${Buffer.from(`${TOKEN_USER.username}:${TOKEN_USER.password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    requests.push(url);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return reply(404, { details: 'no such endpoint' });
    if (req.headers.authorization !== basic) return reply(401, { details: 'wrong or missing credentials' });
    if (url.searchParams.get('service') !== SERVICE) return reply(400, { details: 'unknown service' });
    // "repository:name:pull,push", one per scope parameter (or space-separated in one)
    const access = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean)
      .map((s) => {
        const [type, ...rest] = s.split(':');
        const actions = rest.pop() ?? '';
        return { type: type!, name: rest.join(':'), actions: actions.split(',').filter(Boolean) };
      });
    reply(200, { token: sign(access), expires_in: 300, issued_at: new Date().toISOString() });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const realm = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  return { service: { realm, requests, sign }, server, certFile };
}

function registryConfig(dir: string, port: number, token?: { realm: string; certFile: string }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // one instance: the secret only signs upload state, but without one the registry logs a warning per start
    `  secret: ${crypto.randomBytes(16).toString('hex')}`,
    ...(token
      ? [
          'auth:',
          '  token:',
          `    realm: ${token.realm}`,
          `    service: ${SERVICE}`,
          `    issuer: ${ISSUER}`,
          `    rootcertbundle: ${token.certFile}`,
        ]
      : []),
    '',
  ].join('\n');
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Starts docker-registry on a free port; in token mode with a token service beside it. */
export async function startRegistry(opts: { auth?: 'token' } = {}): Promise<Registry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-registry-'));
  let tokens: Awaited<ReturnType<typeof startTokenService>> | undefined;
  let child: ChildProcess | undefined;
  const kill = () => {
    if (child && !exited(child)) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  const cleanup = async () => {
    if (child && !exited(child)) {
      const c = child;
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      if (!(await waitFor(() => exited(c), 10_000))) c.kill('SIGKILL');
      if (!exited(c)) await gone;
    }
    process.off('exit', kill);
    if (tokens) await new Promise((resolve) => tokens!.server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (opts.auth === 'token') tokens = await startTokenService(dir);
    const configFile = path.join(dir, 'config.yml');
    const logFile = path.join(dir, 'registry.log');
    let host = '';
    // the port is free when asked and taken a moment later: another process may win it, so a bind failure tries a new one
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      fs.writeFileSync(configFile, registryConfig(dir, port, tokens && { realm: tokens.service.realm, certFile: tokens.certFile }));
      const log = fs.openSync(logFile, 'w');
      // REGISTRY_* variables would override the config file
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
      child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', log, log], env });
      fs.closeSync(log);
      const c = child;
      let spawnError: Error | undefined;
      c.once('error', (e) => (spawnError = e));
      host = `127.0.0.1:${port}`;
      // any HTTP answer to /v2/ will do: 200, or 401 in token mode
      const answers = async () => {
        if (exited(c) || spawnError) return true;
        try {
          const res = await fetch(`http://${host}/v2/`);
          await res.body?.cancel();
          return true;
        } catch {
          return false;
        }
      };
      await until(`docker-registry to answer GET http://${host}/v2/`, answers, 30_000, 25);
      if (spawnError) throw new Error(`${REGISTRY_BIN}: ${spawnError.message}`);
      if (!exited(c)) break;
      const output = fs.readFileSync(logFile, 'utf8');
      if (attempt < 3 && /address already in use/.test(output)) continue;
      throw new Error(`docker-registry exited (${c.exitCode ?? c.signalCode}): ${output.trim()}`);
    }
    const registry: Registry = { host, stop: cleanup };
    if (tokens) registry.token = tokens.service;
    return registry;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushOptions {
  /** default "latest" */
  tag?: string;
  /** one image per platform; more than one pushes an OCI index of them (default linux/amd64) */
  platforms?: Platform[];
  /** the destination's manifest format: the layout's OCI, or Docker schema 2 (one platform only) */
  format?: 'oci' | 'v2s2';
  /** credentials for a registry in token mode (TOKEN_USER) */
  auth?: { username: string; password: string };
}

export interface Pushed {
  /** the digest of what the tag names, as skopeo pushed it (the index's with several platforms) */
  digest: string;
  /** per platform ("linux/amd64"), the image as written: manifest, config and layer digests and the config's diff_ids */
  images: Record<string, { manifest: string; config: string; layers: string[]; diffIds: string[] }>;
}

const platformName = (p: Platform) => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** A tar of `dir`'s contents, the same bytes every time (names sorted, mtime 0, owner root). */
function tarOf(dir: string, out: string): Buffer {
  const tar = spawnSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-cf', out, '.'], {
    encoding: 'utf8',
  });
  if (tar.status !== 0) throw new Error(`tar -C ${dir}: ${tar.stderr}`);
  return fs.readFileSync(out);
}

/**
 * Builds a busybox image per platform (two layers: the busybox-static rootfs,
 * shared, and /etc/platform naming the platform) as an OCI layout, and
 * pushes it to `host`/`name`:`tag` with skopeo (several platforms: an OCI
 * index, copied with --all and the digests preserved).
 */
export async function pushBusybox(host: string, name: string, opts: PushOptions = {}): Promise<Pushed> {
  const tag = opts.tag ?? 'latest';
  const platforms = opts.platforms ?? [{ os: 'linux', architecture: 'amd64' }];
  if (opts.format === 'v2s2' && platforms.length > 1) throw new Error('pushBusybox: a Docker schema 2 push is of one platform');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-push-'));
  const leftovers = hostLeftovers();
  try {
    const layout = path.join(dir, 'layout');
    const blobs = path.join(layout, 'blobs', 'sha256');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const blob = (bytes: Buffer, mediaType: string) => {
      const digest = sha256(bytes);
      fs.writeFileSync(path.join(blobs, digest.slice('sha256:'.length)), bytes);
      return { mediaType, digest, size: bytes.byteLength };
    };
    const layer = (tar: Buffer) => ({ diffId: sha256(tar), ...blob(zlib.gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip') });

    const rootfs = path.join(dir, 'rootfs');
    busyboxRootfs(rootfs);
    const base = layer(tarOf(rootfs, path.join(dir, 'base.tar')));
    const images: Pushed['images'] = {};
    const descriptors = platforms.map((p) => {
      const extra = path.join(dir, `extra-${platformName(p).replace(/\//g, '-')}`);
      fs.mkdirSync(path.join(extra, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(extra, 'etc', 'platform'), `${platformName(p)}\n`);
      const top = layer(tarOf(extra, `${extra}.tar`));
      const config = blob(
        Buffer.from(
          JSON.stringify({
            created: '1970-01-01T00:00:00Z',
            architecture: p.architecture,
            os: p.os,
            ...(p.variant ? { variant: p.variant } : {}),
            config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
            rootfs: { type: 'layers', diff_ids: [base.diffId, top.diffId] },
            history: [{ created_by: 'tsrun tests: busybox-static' }, { created_by: 'tsrun tests: /etc/platform' }],
          }),
        ),
        'application/vnd.oci.image.config.v1+json',
      );
      const layers = [base, top].map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
      const manifest = blob(
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })),
        'application/vnd.oci.image.manifest.v1+json',
      );
      images[platformName(p)] = {
        manifest: manifest.digest,
        config: config.digest,
        layers: layers.map((l) => l.digest),
        diffIds: [base.diffId, top.diffId],
      };
      return { ...manifest, platform: p };
    });
    const named =
      descriptors.length === 1
        ? descriptors[0]!
        : blob(
            Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors })),
            'application/vnd.oci.image.index.v1+json',
          );
    const ref = {
      mediaType: named.mediaType,
      digest: named.digest,
      size: named.size,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    };
    fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [ref] }));

    // skopeo's own configuration, private: no host registries.conf, no stored credentials
    fs.writeFileSync(path.join(dir, 'registries.conf'), '');
    const env = {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
      REGISTRY_AUTH_FILE: path.join(dir, 'auth.json'),
      TMPDIR: dir,
    };
    const digestFile = path.join(dir, 'digest');
    const args = ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile];
    if (descriptors.length > 1) args.push('--all', '--preserve-digests');
    if (opts.format) args.push('--format', opts.format);
    if (opts.auth) args.push('--dest-creds', `${opts.auth.username}:${opts.auth.password}`);
    args.push(`oci:${layout}:${tag}`, `docker://${host}/${name}:${tag}`);
    const skopeo = await new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
      // asynchronous: the token service answering skopeo runs in this process
      const child = spawn('skopeo', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stderr }));
    });
    if (skopeo.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${skopeo.stderr.trim()}`);
    return { digest: fs.readFileSync(digestFile, 'utf8').trim(), images };
  } finally {
    leftovers.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
