/** Opening private directories and writing files where another user may be (lib/container/safe-files.ts). */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { NotPrivateError, openPrivateDir, readPrivateFile, writePidFile } from '../../lib/container/safe-files.js';
import { loadBinding } from '../../lib/native/binding.js';

function temp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-safe-'));
  fs.chmodSync(d, 0o700);
  return d;
}

test('openPrivateDir checks each component on its fd: a symlink, a file, a group- or other-writable dir is refused', (t) => {
  const root = temp();
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true, mode: 0o700 });
  fs.closeSync(openPrivateDir(root, ['a', 'b']));
  fs.symlinkSync('a', path.join(root, 'link'));
  t.throws(() => openPrivateDir(root, ['link', 'b']), { instanceOf: NotPrivateError, message: /link is a symlink/ });
  fs.writeFileSync(path.join(root, 'file'), '');
  t.throws(() => openPrivateDir(root, ['file']), { instanceOf: NotPrivateError, message: /file is not a directory/ });
  fs.chmodSync(path.join(root, 'a'), 0o770);
  t.throws(() => openPrivateDir(root, ['a', 'b']), { instanceOf: NotPrivateError, message: /a is writable by other users \(mode 0770\)/ });
  fs.chmodSync(path.join(root, 'a'), 0o700);
  fs.chmodSync(root, 0o1777);
  t.throws(() => openPrivateDir(root, []), { instanceOf: NotPrivateError, message: /writable by other users \(mode 1777\)/ });
  fs.chmodSync(root, 0o700);
  t.throws(() => openPrivateDir(root, ['missing']), { code: 'ENOENT' });
  const fd = openPrivateDir(root, ['c', 'd'], { create: true });
  fs.closeSync(fd);
  t.is(fs.statSync(path.join(root, 'c', 'd')).mode & 0o777, 0o700);
  fs.rmSync(root, { recursive: true });
});

test('readPrivateFile: not through a symlink, capped, secret means 0600', (t) => {
  const root = temp();
  fs.writeFileSync(path.join(root, 'f'), 'hello', { mode: 0o644 });
  fs.symlinkSync('f', path.join(root, 'l'));
  const fd = openPrivateDir(root, []);
  t.is(readPrivateFile(fd, root, 'f', 5)?.toString(), 'hello');
  t.is(readPrivateFile(fd, root, 'none', 5), null);
  t.throws(() => readPrivateFile(fd, root, 'f', 4), { message: /larger than 4 bytes/ });
  t.throws(() => readPrivateFile(fd, root, 'l', 5), { message: /l is a symlink/ });
  t.throws(() => readPrivateFile(fd, root, 'f', 5, true), { message: /readable by other users/ });
  fs.closeSync(fd);
  fs.rmSync(root, { recursive: true });
});

test('the pid file follows no symlink: neither one at the name runc uses first, nor one at the file itself', (t) => {
  const dir = temp();
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious');
  fs.symlinkSync(victim, path.join(dir, '.pid'));
  fs.symlinkSync(victim, path.join(dir, 'pid'));
  writePidFile(loadBinding(), path.join(dir, 'pid'), 42);
  t.is(fs.readFileSync(victim, 'utf8'), 'precious');
  t.true(fs.lstatSync(path.join(dir, 'pid')).isFile());
  t.is(fs.readFileSync(path.join(dir, 'pid'), 'utf8'), '42');
  t.deepEqual(fs.readdirSync(dir).sort(), ['.pid', 'pid', 'victim'], 'no temporary file left');
  fs.mkdirSync(path.join(dir, 'adir'));
  t.throws(() => writePidFile(loadBinding(), path.join(dir, 'adir'), 1));
  t.deepEqual(fs.readdirSync(dir).sort(), ['.pid', 'adir', 'pid', 'victim'], 'a failed rename leaves no temporary file');
  fs.rmSync(dir, { recursive: true });
});
