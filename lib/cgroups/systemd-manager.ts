/**
 * The systemd cgroup driver (`--systemd-cgroup`) on cgroup v2: the
 * container's cgroup is a transient unit's (a scope, or a slice asked for by
 * name), so systemd knows it, accounts it and keeps its limits.
 *
 * A scope is made for processes: it cannot exist before the init does. So
 * create() makes nothing and apply() only keeps the limits; addProcess(), at
 * the init's PID while it waits for GO, starts the unit with the init in it
 * (StartTransientUnit, native/host/systemd.c) and the limits as properties,
 * then writes every limit to the unit's cgroup files as the cgroupfs driver
 * does (what systemd cannot express; runc does the same). The init runs
 * nothing of the container's before that is done. A unit that was started
 * is the container's: delete (native/host) stops it and removes what is
 * left. Loaded from state.json, it is a cgroup v2 directory like any other,
 * except for update (SetUnitProperties, then the files).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError } from '../errors.js';
import { deviceRules } from './devices.js';
import type { AttachDeviceProgram, CgroupManager, CgroupMade, CgroupState } from './manager.js';
import type { LinuxResources } from './resources.js';
import type { CgroupStats } from './stats.js';
import { resourceProperties, unitProperties, type SystemdProperty, type SystemdUnit, type SystemdUnitRef } from './systemd.js';
import { V2Manager, memoryLimitNow } from './v2.js';

/** The D-Bus calls the driver makes (the addon's systemdStart/systemdSet). */
export interface SystemdBus {
  /** Starts the unit and resolves to its ControlGroup ("/system.slice/x.scope"). */
  start(ref: SystemdUnitRef, props: readonly SystemdProperty[]): Promise<string>;
  set(ref: SystemdUnitRef, props: readonly SystemdProperty[]): Promise<void>;
}

export interface SystemdOptions {
  bus: SystemdBus;
  /** The user's manager (rootless), not the system's. */
  user: boolean;
  id: string;
  /** The `org.systemd.property.*` ones become unit properties. */
  annotations?: Record<string, string>;
  /** Device rules are enforced (privileged): the unit gets them too; unprivileged, neither does. */
  attach?: AttachDeviceProgram;
}

export class SystemdManager implements CgroupManager {
  readonly state: CgroupState;
  readonly v1Hierarchies = () => [];
  /** The unit runs with the init in it (or this was loaded from state.json). */
  private started: boolean;
  /** The limits apply() was given before the unit existed: the start's. */
  private pending: LinuxResources = {};

  constructor(
    private readonly mount: string,
    private readonly unit: SystemdUnit,
    private readonly opts: Pick<SystemdOptions, 'bus' | 'attach'> & Partial<SystemdOptions>,
    existing?: CgroupState,
  ) {
    this.started = !!existing;
    this.state = existing ?? {
      version: 2,
      // where systemd puts it on the system manager; the user manager's is
      // known once it answers (its ControlGroup)
      paths: { '': path.join(mount, unit.path) },
      systemd: { unit: unit.unit, user: !!opts.user },
    };
  }

  private get ref(): SystemdUnitRef {
    return this.state.systemd!;
  }

  private get dir(): string {
    return this.state.paths['']!;
  }

  /** The unit's cgroup as a plain v2 directory: the files. */
  private files(): V2Manager {
    return new V2Manager(this.mount, path.relative(this.mount, this.dir), this.opts.attach, this.state);
  }

  /** Born in the cgroup only once it exists (an exec); the init is moved there by systemd. */
  get v2Dir(): string | null {
    return this.started ? this.dir : null;
  }

  check(r: LinuxResources): string[] {
    // where the user manager puts it is known only once it answers
    if (this.ref.user) return [];
    // a live unit of that name has its cgroup there already: not ours to take
    if (fs.existsSync(this.dir))
      throw new ConfigError(
        'linux.cgroupsPath',
        `systemd unit ${this.ref.unit} already exists (its cgroup ${this.dir} does): another container's, or one not deleted`,
      );
    return this.files().check(r); // a frozen ancestor, an impossible swap
  }

  create(): string[] {
    return [];
  }

  owned(): string[] {
    return this.started ? [this.dir] : [];
  }

  made(): CgroupMade {
    return this.started ? { dirs: [this.dir], systemd: this.ref } : { dirs: [] };
  }

  async apply(r: LinuxResources, opts: { update?: boolean } = {}): Promise<void> {
    if (!this.started) {
      this.pending = r;
      return;
    }
    if (opts.update) {
      const devices = this.opts.attach && r.devices ? deviceRules(r.devices) : null;
      await this.opts.bus.set(this.ref, resourceProperties(r, devices, memoryLimitNow(this.dir)));
    }
    this.files().apply(r, opts);
  }

  async addProcess(pid: number): Promise<void> {
    if (this.started) return this.files().addProcess(pid);
    const r = this.pending;
    const scope = this.unit.unit.endsWith('.scope');
    const props = unitProperties(this.unit, {
      id: this.opts.id ?? this.unit.unit,
      // a slice holds no process of its own: the init is moved in below
      pid: scope ? pid : 0,
      resources: r,
      devices: this.opts.attach ? deviceRules(r.devices) : null,
      annotations: this.opts.annotations,
    });
    const cgroup = await this.opts.bus.start(this.ref, props);
    this.started = true;
    this.state.paths[''] = path.join(this.mount, cgroup);
    const files = this.files();
    // the controllers systemd does not manage (hugetlb, rdma, misc) are
    // enabled on the way down, as the cgroupfs driver does
    files.create();
    if (!scope) files.addProcess(pid);
    files.apply(r);
  }

  stats(): CgroupStats {
    return this.files().stats();
  }

  oomKills(): number {
    return this.files().oomKills();
  }
}
