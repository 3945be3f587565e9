/**
 * bench:live's CPU time of Node-RED's own thread, read from /proc: the stat line's command name
 * may hold spaces and parentheses, and where there is no /proc the figure is null, not 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { mainThreadCpuMs } from '../../bench/live-lag';

test('mainThreadCpuMs: utime + stime in ms from a stat line whose command name holds ") "', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stat-'));
  try {
    const file = path.join(dir, 'stat');
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    fs.writeFileSync(file, '4242 (node ) x (1)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 11 0\n');
    assert.equal(mainThreadCpuMs(file), (1234 + 56) * 10);
    fs.writeFileSync(file, 'garbage');
    assert.equal(mainThreadCpuMs(file), null);
    assert.equal(mainThreadCpuMs(path.join(dir, 'missing')), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mainThreadCpuMs: this thread\'s CPU time grows with work done in it (Linux)', { skip: !fs.existsSync(`/proc/self/task/${process.pid}/stat`) && 'no /proc here' }, () => {
  const before = mainThreadCpuMs();
  assert.ok(before !== null && before >= 0);
  const t0 = Date.now();
  let x = 0;
  while (Date.now() - t0 < 300) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
  const after = mainThreadCpuMs()!;
  assert.ok(after - before >= 30, `expected >= 30 ms of CPU after a 300 ms busy loop, got ${after - before}`);
});
