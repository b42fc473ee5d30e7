#!/usr/bin/python3
"""A resctrl filesystem in FUSE, for hosts without Intel RDT (this machine, the qemu lanes).

Usage: fake-resctrl.py MOUNTPOINT [--no-mon]. Runs in the foreground until unmounted.

It keeps the kernel's interface as the runtime sees it (Documentation/arch/x86/resctrl.rst):
  - the root is the default CTRL_MON group: info/, schemata, tasks, mon_groups/, mon_data/;
  - info/ has L3 (cbm_mask fff), MB (min_bandwidth 10), L3_MON (unless --no-mon), last_cmd_status;
  - mkdir at the root makes a CTRL_MON group with its own files (schemata copied from the root);
    mkdir in a group's mon_groups makes a MON group (tasks, mon_data); nothing else may be made;
  - rmdir removes a group, full as it is, its tasks going back to the parent;
  - a write to tasks takes one pid of a live process and moves it there, out of every other
    group; into a MON group only from its parent CTRL_MON group;
  - a write to schemata takes lines "L3:<id>=<hex>;..." and "MB:<id>=<decimal>" for domain 0,
    merging them into the group's; anything else is EINVAL;
  - a refused write or mkdir sets info/last_cmd_status, as the kernel does; a good one sets "ok".
"""
import errno
import os
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

NOT_GROUPS = {"info", "mon_groups", "mon_data"}
ROOT_FILES = {"tasks", "schemata"}


class Group:
    def __init__(self, schemata=None, mon=False):
        self.schemata = dict(schemata or {"L3": {"0": "fff"}, "MB": {"0": "100"}})
        self.tasks = set()
        self.mon = mon  # a MON group: tasks only
        self.mon_groups = {}


class Resctrl(Operations):
    def __init__(self, with_mon):
        self.root = Group()
        self.groups = {}  # name -> Group
        self.status = "ok"
        self.with_mon = with_mon
        self.now = time.time()
        info = {
            "L3": {"cbm_mask": "fff", "min_cbm_bits": "1", "num_closids": "16", "shareable_bits": "0"},
            "MB": {"bandwidth_gran": "10", "delay_linear": "1", "min_bandwidth": "10", "num_closids": "8"},
        }
        if with_mon:
            info["L3_MON"] = {"mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes",
                              "num_rmids": "128", "max_threshold_occupancy": "1048576"}
        self.info = info

    # ---- paths -------------------------------------------------------------
    def resolve(self, path):
        """('dir'|'file', node, name) for a path, or raises ENOENT."""
        parts = [p for p in path.split("/") if p]
        if not parts:
            return ("group", self.root, None)
        if parts[0] == "info":
            if len(parts) == 1:
                return ("infodir", None, None)
            if len(parts) == 2 and parts[1] == "last_cmd_status":
                return ("status", None, None)
            if parts[1] in self.info:
                if len(parts) == 2:
                    return ("infodir", parts[1], None)
                if len(parts) == 3 and parts[2] in self.info[parts[1]]:
                    return ("infofile", parts[1], parts[2])
            raise FuseOSError(errno.ENOENT)
        group, rest = self.root, parts
        if parts[0] not in NOT_GROUPS and parts[0] not in ROOT_FILES:
            group = self.groups.get(parts[0])
            if group is None:
                raise FuseOSError(errno.ENOENT)
            rest = parts[1:]
        if not rest:
            return ("group", group, None)
        if rest[0] == "mon_groups":
            if len(rest) == 1:
                return ("mondir", group, None)
            mon = group.mon_groups.get(rest[1])
            if mon is None:
                raise FuseOSError(errno.ENOENT)
            if len(rest) == 2:
                return ("group", mon, None)
            if len(rest) == 3 and rest[2] == "tasks":
                return ("file", mon, "tasks")
            raise FuseOSError(errno.ENOENT)
        if rest[0] == "mon_data" and len(rest) == 1:
            return ("mondata", group, None)
        if len(rest) == 1 and rest[0] in ("tasks", "schemata"):
            return ("file", group, rest[0])
        raise FuseOSError(errno.ENOENT)

    def text(self, kind, node, name):
        if kind == "status":
            return self.status + "\n"
        if kind == "infofile":
            return self.info[node][name] + "\n"
        if name == "tasks":
            return "".join(f"{p}\n" for p in sorted(node.tasks))
        if name == "schemata":
            return "".join(f"{res}:" + ";".join(f"{d}={v}" for d, v in sorted(doms.items())) + "\n"
                           for res, doms in node.schemata.items())
        raise FuseOSError(errno.EISDIR)

    # ---- FUSE operations ----------------------------------------------------
    def getattr(self, path, fh=None):
        kind, node, name = self.resolve(path)
        base = {"st_uid": 0, "st_gid": 0, "st_atime": self.now, "st_mtime": self.now, "st_ctime": self.now}
        if kind in ("file", "status", "infofile"):
            mode = 0o644 if kind == "file" else 0o444
            return {**base, "st_mode": stat.S_IFREG | mode, "st_nlink": 1,
                    "st_size": len(self.text(kind, node, name))}
        return {**base, "st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}

    def readdir(self, path, fh):
        kind, node, _ = self.resolve(path)
        names = [".", ".."]
        if kind == "infodir":
            names += ["last_cmd_status", *self.info] if node is None else list(self.info[node])
        elif kind == "mondir":
            names += list(node.mon_groups)
        elif kind == "group":
            names += ["tasks"] if node.mon else ["tasks", "schemata", "mon_groups", "mon_data"]
            if node is self.root:
                names += ["info", *self.groups]
        return names

    def open(self, path, flags):
        self.resolve(path)
        return 0

    def read(self, path, size, offset, fh):
        kind, node, name = self.resolve(path)
        return self.text(kind, node, name).encode()[offset:offset + size]

    def truncate(self, path, length, fh=None):
        self.resolve(path)

    def fail(self, why, err=errno.EINVAL):
        self.status = why
        raise FuseOSError(err)

    def write(self, path, data, offset, fh):
        kind, node, name = self.resolve(path)
        if kind != "file":
            raise FuseOSError(errno.EACCES)
        text = data.decode(errors="replace")
        if name == "tasks":
            try:
                pid = int(text.strip())
            except ValueError:
                self.fail("Invalid argument")
            if not os.path.exists(f"/proc/{pid}"):
                self.fail(f"No task {pid}", errno.ESRCH)
            if node.mon:
                parent = next((g for g in [self.root, *self.groups.values()] if node in g.mon_groups.values()), None)
                if pid not in parent.tasks:
                    self.fail("Can't move task to different control group")
                for m in parent.mon_groups.values():
                    m.tasks.discard(pid)
            else:
                for g in [self.root, *self.groups.values()]:
                    g.tasks.discard(pid)
                    for m in g.mon_groups.values():
                        m.tasks.discard(pid)
            node.tasks.add(pid)
        else:
            merged = {res: dict(doms) for res, doms in node.schemata.items()}
            for line in filter(None, (l.strip() for l in text.split("\n"))):
                res, _, rest = line.partition(":")
                if res not in ("L3", "MB"):
                    self.fail(f"Unknown or unsupported resource name '{res}'")
                for part in rest.split(";"):
                    dom, _, value = part.partition("=")
                    if dom.strip() != "0":
                        self.fail(f"Unknown domain ID {dom.strip()}")
                    try:
                        n = int(value, 16 if res == "L3" else 10)
                    except ValueError:
                        self.fail(f"Non-hex character in the mask {value}" if res == "L3" else f"Invalid MB value {value}")
                    if res == "L3" and (n == 0 or n > 0xfff):
                        self.fail(f"Mask out of range: {value}")
                    merged[res]["0"] = format(n, "x") if res == "L3" else str(n)
            node.schemata = merged
        self.status = "ok"
        return len(data)

    def mkdir(self, path, mode):
        parts = [p for p in path.split("/") if p]
        if len(parts) == 1:
            if parts[0] in NOT_GROUPS or parts[0] in ROOT_FILES or parts[0] in self.groups:
                raise FuseOSError(errno.EEXIST)
            self.groups[parts[0]] = Group(self.root.schemata)
        elif len(parts) in (2, 3) and parts[-2] == "mon_groups":
            if not self.with_mon:
                self.fail("monitoring is not enabled", errno.EPERM)
            kind, group, _ = self.resolve("/" + "/".join(parts[:-1]))
            if parts[-1] in group.mon_groups:
                raise FuseOSError(errno.EEXIST)
            group.mon_groups[parts[-1]] = Group(mon=True)
        else:
            self.fail("Directory was not created: not a place for a group", errno.EPERM)
        self.status = "ok"

    def rmdir(self, path):
        parts = [p for p in path.split("/") if p]
        if len(parts) == 1 and parts[0] in self.groups:
            g = self.groups.pop(parts[0])
            self.root.tasks |= g.tasks
        elif len(parts) in (2, 3) and parts[-2] == "mon_groups":
            kind, group, _ = self.resolve("/" + "/".join(parts[:-1]))
            if group.mon_groups.pop(parts[-1], None) is None:
                raise FuseOSError(errno.ENOENT)
        else:
            raise FuseOSError(errno.EPERM if len(parts) == 1 and parts[0] in NOT_GROUPS else errno.ENOENT)

    def create(self, path, mode, fi=None):
        raise FuseOSError(errno.EACCES)

    def unlink(self, path):
        raise FuseOSError(errno.EPERM)


if __name__ == "__main__":
    FUSE(Resctrl("--no-mon" not in sys.argv), sys.argv[1], foreground=True, nothreads=True, fsname="fake-resctrl")
