/**
 * Spawning and killing ffmpeg children so that none outlives its owner.
 *
 * Children are spawned with an argument array (never a shell), stdin ignored (`-nostdin` too),
 * and tracked in a process-wide set; if Node itself exits without closing its sources (crash,
 * `process.exit`), the `exit` hook SIGKILLs whatever is left.
 */
import { ChildProcessByStdio, spawn } from 'child_process';
import * as fs from 'fs';
import type { Readable } from 'stream';
import { longTimeout } from '../timers';

export type FfmpegChild = ChildProcessByStdio<null, Readable, Readable>;

const live = new Set<FfmpegChild>();
let hooked = false;

function killAllSync(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Number of ffmpeg children this process has running now (for tests and diagnostics). */
export function liveChildren(): number {
  return live.size;
}

/** Spawns `bin args…` with stdout/stderr piped; the child is tracked until it exits. */
export function spawnFfmpeg(bin: string, args: readonly string[]): FfmpegChild {
  if (!hooked) {
    hooked = true;
    process.once('exit', killAllSync);
  }
  const child = spawn(bin, [...args], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, shell: false });
  live.add(child);
  const forget = () => live.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  return child;
}

/** True while the child has neither exited nor been reaped. */
export function isRunning(child: FfmpegChild): boolean {
  return child.exitCode === null && child.signalCode === null && live.has(child);
}

/**
 * Stops a child: SIGTERM (ffmpeg finishes cleanly), then SIGKILL after `graceMs`.
 * Resolves once the child has exited (never rejects).
 */
export function killChild(child: FfmpegChild, graceMs = 2000): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      timer.cancel();
      resolve();
    };
    child.once('exit', finish);
    child.once('error', finish);
    // A paused stdout would leave ffmpeg blocked in write() and deaf to SIGTERM: drain it.
    child.stdout.removeAllListeners('data');
    child.stdout.on('data', () => undefined);
    child.stdout.resume();
    try {
      child.kill('SIGTERM');
    } catch {
      /* ignore */
    }
    // A grace above 24.8 days in steps (a plain timer sent SIGKILL 1 ms after SIGTERM).
    const timer = longTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* ignore */
      }
    }, graceMs);
  });
}

/** True if a process with this pid exists (signal 0 probe; a zombie counts as gone on Linux when /proc says Z). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** CPU time (user+system, ms) of a running child from /proc (Linux); null elsewhere or when gone. */
export function readChildCpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime/stime are fields 14/15 → indexes 11/12. Clock ticks are
    // 100 Hz on every Linux we target (CLK_TCK).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}
