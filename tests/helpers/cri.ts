/**
 * A client for the Kubernetes Container Runtime Interface (CRI), the API a
 * kubelet drives containerd with: gRPC service runtime.v1.RuntimeService
 * over a unix socket. It covers the subset the tests and the benchmark use;
 * field numbers are those of k8s.io/cri-api pkg/apis/runtime/v1/api.proto,
 * noted beside each message, and the names follow api.proto in camelCase.
 */
import * as grpc from '@grpc/grpc-js';

import { ProtoReader, ProtoWriter } from './protobuf.js';

/** NamespaceMode: POD is shared by the pod, CONTAINER is the container's own, NODE is the host's. */
export const NamespaceMode = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
export const PodSandboxState = { SANDBOX_READY: 0, SANDBOX_NOTREADY: 1 } as const;
export const ContainerState = { CONTAINER_CREATED: 0, CONTAINER_RUNNING: 1, CONTAINER_EXITED: 2, CONTAINER_UNKNOWN: 3 } as const;
export const containerStateName = (s: number) => Object.entries(ContainerState).find(([, v]) => v === s)?.[0] ?? `state ${s}`;

export interface NamespaceOption {
  network?: number;
  pid?: number;
  ipc?: number;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean } };
}

/** LinuxContainerResources: what a pod spec's requests and limits become. */
export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
}

export interface LinuxContainerSecurityContext {
  namespaceOptions?: NamespaceOption;
  privileged?: boolean;
  runAsUser?: number;
  readonlyRootfs?: boolean;
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  /** The image reference, as ImageSpec.image. */
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Relative to the pod's logDirectory. */
  logPath?: string;
  mounts?: Mount[];
  linux?: { resources?: LinuxContainerResources; securityContext?: LinuxContainerSecurityContext };
}

/** MountPropagation: a pod's volumeMounts[].mountPropagation (None, HostToContainer, Bidirectional). */
export const MountPropagation = { PROPAGATION_PRIVATE: 0, PROPAGATION_HOST_TO_CONTAINER: 1, PROPAGATION_BIDIRECTIONAL: 2 } as const;

/** A volume: Mount (container_path = 1, host_path = 2, readonly = 3, propagation = 5). */
export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  propagation?: number;
}

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface PodSandboxStatus {
  id: string;
  name: string;
  state: number;
  createdAt: bigint;
  runtimeHandler: string;
}

export interface ContainerStatus {
  id: string;
  name: string;
  state: number;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  logPath: string;
}

export interface ExecSyncResponse {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A failed call: the gRPC status code (grpc.status) and containerd's message. */
export class CriError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'CriError';
  }
}

// NamespaceOption: network = 1, pid = 2, ipc = 3
const namespaceOption = (n: NamespaceOption) => (w: ProtoWriter) => w.int(1, n.network).int(2, n.pid).int(3, n.ipc);

// PodSandboxConfig: metadata = 1 (PodSandboxMetadata: name = 1, uid = 2, namespace = 3, attempt = 4),
// hostname = 2, log_directory = 3, labels = 6, annotations = 7, linux = 8
// (LinuxPodSandboxConfig: cgroup_parent = 1, security_context = 2
//  (LinuxSandboxSecurityContext: namespace_options = 1, privileged = 6))
const podSandboxConfig = (c: PodSandboxConfig) => (w: ProtoWriter) => {
  w.message(1, (m) => m.string(1, c.metadata.name).string(2, c.metadata.uid).string(3, c.metadata.namespace).int(4, c.metadata.attempt));
  w.string(2, c.hostname).string(3, c.logDirectory).map(6, c.labels).map(7, c.annotations);
  const linux = c.linux;
  w.message(
    8,
    linux &&
      ((l) => {
        l.string(1, linux.cgroupParent);
        const sc = linux.securityContext;
        l.message(2, sc && ((s) => s.message(1, sc.namespaceOptions && namespaceOption(sc.namespaceOptions)).bool(6, sc.privileged)));
      }),
  );
};

// LinuxContainerResources: cpu_period = 1, cpu_quota = 2, cpu_shares = 3, memory_limit_in_bytes = 4, oom_score_adj = 5
const linuxResources = (r: LinuxContainerResources) => (w: ProtoWriter) =>
  w.int(1, r.cpuPeriod).int(2, r.cpuQuota).int(3, r.cpuShares).int(4, r.memoryLimitInBytes).int(5, r.oomScoreAdj);

// LinuxContainerSecurityContext: privileged = 2, namespace_options = 3, run_as_user = 5 (Int64Value: value = 1),
// readonly_rootfs = 7
const containerSecurityContext = (sc: LinuxContainerSecurityContext) => (w: ProtoWriter) => {
  w.bool(2, sc.privileged).message(3, sc.namespaceOptions && namespaceOption(sc.namespaceOptions));
  // a wrapper message, so that uid 0 is set, not absent
  w.message(5, sc.runAsUser === undefined ? undefined : (v) => v.int(1, sc.runAsUser));
  w.bool(7, sc.readonlyRootfs);
};

// ContainerConfig: metadata = 1 (ContainerMetadata: name = 1, attempt = 2), image = 2 (ImageSpec: image = 1),
// command = 3, args = 4, working_dir = 5, envs = 6 (KeyValue: key = 1, value = 2), mounts = 7, labels = 9,
// annotations = 10, log_path = 11, linux = 15 (LinuxContainerConfig: resources = 1, security_context = 2)
const containerConfig = (c: ContainerConfig) => (w: ProtoWriter) => {
  w.message(1, (m) => m.string(1, c.metadata.name).int(2, c.metadata.attempt));
  w.message(2, (i) => i.string(1, c.image));
  w.strings(3, c.command).strings(4, c.args).string(5, c.workingDir);
  for (const [key, value] of Object.entries(c.envs ?? {})) w.message(6, (kv) => kv.string(1, key).string(2, value));
  for (const m of c.mounts ?? [])
    w.message(7, (v) => v.string(1, m.containerPath).string(2, m.hostPath).bool(3, m.readonly).int(5, m.propagation));
  w.map(9, c.labels).map(10, c.annotations).string(11, c.logPath);
  const linux = c.linux;
  w.message(
    15,
    linux &&
      ((l) =>
        l
          .message(1, linux.resources && linuxResources(linux.resources))
          .message(2, linux.securityContext && containerSecurityContext(linux.securityContext))),
  );
};

// PodSandboxStatus: id = 1, metadata = 2 (name = 1), state = 3, created_at = 4, runtime_handler = 9
const podSandboxStatus = (r: ProtoReader): PodSandboxStatus => ({
  id: r.string(1),
  name: r.message(2)?.string(1) ?? '',
  state: r.int32(3),
  createdAt: r.int64(4),
  runtimeHandler: r.string(9),
});

// ContainerStatus: id = 1, metadata = 2 (name = 1), state = 3, created_at = 4, started_at = 5,
// finished_at = 6, exit_code = 7, reason = 10, message = 11, log_path = 15
const containerStatus = (r: ProtoReader): ContainerStatus => ({
  id: r.string(1),
  name: r.message(2)?.string(1) ?? '',
  state: r.int32(3),
  createdAt: r.int64(4),
  startedAt: r.int64(5),
  finishedAt: r.int64(6),
  exitCode: r.int32(7),
  reason: r.string(10),
  message: r.string(11),
  logPath: r.string(15),
});

const SERVICE = '/runtime.v1.RuntimeService/';

/** The RuntimeService at a unix socket. Every call has a deadline, so a hung daemon fails the caller instead of hanging it. */
export class CriClient {
  private readonly client: grpc.Client;

  /** @param address the path of containerd's grpc socket */
  constructor(
    address: string,
    private readonly timeoutMs = 60_000,
  ) {
    this.client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  }

  close() {
    this.client.close();
  }

  private call(method: string, build: (w: ProtoWriter) => void, timeoutMs = this.timeoutMs): Promise<ProtoReader> {
    return new Promise((resolve, reject) => {
      const w = new ProtoWriter();
      build(w);
      this.client.makeUnaryRequest(
        SERVICE + method,
        (b: Buffer) => b,
        (b: Buffer) => new ProtoReader(b),
        w.finish(),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) reject(new CriError(method, err.code, err.details));
          else resolve(res!);
        },
      );
    });
  }

  // VersionRequest: version = 1; VersionResponse: version = 1, runtime_name = 2, runtime_version = 3, runtime_api_version = 4
  async version(): Promise<VersionResponse> {
    const r = await this.call('Version', (w) => w.string(1, 'v1'));
    return { version: r.string(1), runtimeName: r.string(2), runtimeVersion: r.string(3), runtimeApiVersion: r.string(4) };
  }

  /**
   * RunPodSandboxRequest: config = 1, runtime_handler = 2; RunPodSandboxResponse: pod_sandbox_id = 1.
   * runtimeHandler is what a Kubernetes RuntimeClass's `handler` selects: a key of the CRI plugin's containerd.runtimes.
   */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string): Promise<string> {
    const r = await this.call('RunPodSandbox', (w) => w.message(1, podSandboxConfig(config)).string(2, runtimeHandler));
    return r.string(1);
  }

  // StopPodSandboxRequest, RemovePodSandboxRequest: pod_sandbox_id = 1
  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', (w) => w.string(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', (w) => w.string(1, id));
  }

  // PodSandboxStatusRequest: pod_sandbox_id = 1; PodSandboxStatusResponse: status = 1
  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const r = await this.call('PodSandboxStatus', (w) => w.string(1, id));
    return podSandboxStatus(r.message(1) ?? new ProtoReader(Buffer.alloc(0)));
  }

  // ListPodSandboxRequest: filter = 1 (left off: all); ListPodSandboxResponse: items = 1 (PodSandbox: id = 1, metadata = 2, state = 3)
  async listPodSandbox(): Promise<{ id: string; name: string; state: number }[]> {
    const r = await this.call('ListPodSandbox', () => {});
    return r.messages(1).map((p) => ({ id: p.string(1), name: p.message(2)?.string(1) ?? '', state: p.int32(3) }));
  }

  // CreateContainerRequest: pod_sandbox_id = 1, config = 2, sandbox_config = 3; CreateContainerResponse: container_id = 1
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const r = await this.call('CreateContainer', (w) =>
      w.string(1, podSandboxId).message(2, containerConfig(config)).message(3, podSandboxConfig(sandboxConfig)),
    );
    return r.string(1);
  }

  // StartContainerRequest: container_id = 1
  async startContainer(id: string): Promise<void> {
    await this.call('StartContainer', (w) => w.string(1, id));
  }

  /** StopContainerRequest: container_id = 1, timeout = 2 (seconds of grace before SIGKILL). */
  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.call('StopContainer', (w) => w.string(1, id).int(2, timeoutSeconds), this.timeoutMs + timeoutSeconds * 1000);
  }

  // RemoveContainerRequest: container_id = 1
  async removeContainer(id: string): Promise<void> {
    await this.call('RemoveContainer', (w) => w.string(1, id));
  }

  /** UpdateContainerResourcesRequest: container_id = 1, linux = 2 (what an in-place pod resize sends). */
  async updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void> {
    await this.call('UpdateContainerResources', (w) => w.string(1, id).message(2, linuxResources(resources)));
  }

  // ListContainersRequest: filter = 1 (ContainerFilter: pod_sandbox_id = 3); ListContainersResponse: containers = 1
  // (Container: id = 1, pod_sandbox_id = 2, metadata = 3, state = 6)
  async listContainers(podSandboxId?: string): Promise<{ id: string; podSandboxId: string; name: string; state: number }[]> {
    const r = await this.call('ListContainers', (w) => w.message(1, podSandboxId ? (f) => f.string(3, podSandboxId) : undefined));
    return r
      .messages(1)
      .map((c) => ({ id: c.string(1), podSandboxId: c.string(2), name: c.message(3)?.string(1) ?? '', state: c.int32(6) }));
  }

  // ContainerStatusRequest: container_id = 1; ContainerStatusResponse: status = 1
  async containerStatus(id: string): Promise<ContainerStatus> {
    const r = await this.call('ContainerStatus', (w) => w.string(1, id));
    return containerStatus(r.message(1) ?? new ProtoReader(Buffer.alloc(0)));
  }

  /** ExecSyncRequest: container_id = 1, cmd = 2, timeout = 3 (seconds); ExecSyncResponse: stdout = 1, stderr = 2, exit_code = 3. */
  async execSync(id: string, cmd: string[], timeoutSeconds = 10): Promise<ExecSyncResponse> {
    const r = await this.call(
      'ExecSync',
      (w) => w.string(1, id).strings(2, cmd).int(3, timeoutSeconds),
      this.timeoutMs + timeoutSeconds * 1000,
    );
    return { stdout: r.string(1), stderr: r.string(2), exitCode: r.int32(3) };
  }
}
