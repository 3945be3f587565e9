/** @test {smoothFaces} operator in virtual time (TestScheduler). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { EmotionFace, smoothFaces, SmoothInput, SmoothOutput } from '../../src/smooth';
import { ManualScheduler } from '../helpers/schedulers';

const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
const face = (id: number, label: string): EmotionFace => ({
  id,
  emotion: { label, confidence: 1, probabilities: { happy: label === 'happy' ? 1 : 0, sadness: label === 'sadness' ? 1 : 0 } },
});

describe('smoothFaces', () => {
  test('one output per input; time from scheduler.now() when the input has no timestamp', () => {
    const ts = scheduler();
    ts.run(({ hot, expectObservable }) => {
      const values: Record<string, SmoothInput> = { h: { faces: [face(1, 'happy')] }, s: { faces: [face(1, 'sadness')] } };
      // dwell 250 ms: sadness from 100 ms on takes over at the frame at 400 ms (>= 350)
      const input = hot('h 99ms s 99ms s 99ms s 99ms (s|)', values);
      const out = input.pipe(
        smoothFaces({ method: 'ema', halfLifeMs: 1, minDwellMs: 250, margin: 0.1 }, ts),
        map((o) => `${o.faces[0].smoothed.label}@${o.faces[0].smoothed.since}`),
      );
      expectObservable(out).toBe('a 99ms b 99ms c 99ms d 99ms (e|)', {
        a: 'happy@0',
        b: 'happy@0',
        c: 'happy@0',
        d: 'happy@0',
        e: 'sadness@100',
      });
    });
  });

  test('input timestamps are used as the time base when present', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const values: Record<string, SmoothInput> = {
        a: { faces: [face(1, 'happy')], timestamp: 1_000_000 },
        b: { faces: [face(1, 'sadness')], timestamp: 1_000_500 },
      };
      const out = cold('ab|', values).pipe(
        smoothFaces({ method: 'ema', halfLifeMs: 500, trackTimeoutMs: 10_000 }, ts),
        map((o) => Math.round(o.faces[0].smoothed.probabilities.happy * 1000) / 1000),
      );
      expectObservable(out).toBe('ab|', { a: 1, b: 0.333 }); // weights 2^-1 and 1: 0.5 / 1.5
    });
  });

  test('a timer forgets tracks when frames stop; the next output reports them lost once', () => {
    const ts = scheduler();
    const sweeps: Array<[number, number, number]> = [];
    ts.run(({ hot, expectObservable }) => {
      const values: Record<string, SmoothInput> = { a: { faces: [face(1, 'happy'), face(2, 'happy')] }, b: { faces: [face(2, 'happy')] }, e: { faces: [] } };
      const input = hot('a 499ms b 1999ms e 99ms e', values);
      const out = input.pipe(
        smoothFaces({ trackTimeoutMs: 1000 }, ts, { onSweep: (n, left) => sweeps.push([ts.now(), n, left]) }),
        map((o) => `${o.tracks}:${o.lost.map((l) => l.id).join(',')}`),
      );
      expectObservable(out).toBe('a 499ms b 1999ms c 99ms d', { a: '2:', b: '2:', c: '0:1,2', d: '0:' });
    });
    // track 1 expires at 1000 (seen at 0), track 2 at 1500 (seen at 500), both without frames
    assert.deepEqual(sweeps, [[1000, 1, 1], [1500, 1, 0]]);
  });

  test('invalid faces error the stream with a TypeError naming the problem', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const out = cold('ab', { a: { faces: [face(1, 'happy')] }, b: { faces: [{ id: -3 }] as never } }).pipe(
        smoothFaces({}, ts),
        map((o) => o.tracks),
      );
      expectObservable(out).toBe('a#', { a: 1 }, new TypeError('face 0 has an invalid track id -3: expected an integer >= 0 (wire the face node, which tracks faces, before this one)'));
    });
  });

  test('unsubscribing clears the sweep timer', () => {
    const ts = scheduler();
    let swept = 0;
    ts.run(({ hot, expectObservable }) => {
      const out = hot('a', { a: { faces: [face(1, 'happy')] } }).pipe(smoothFaces({ trackTimeoutMs: 100 }, ts, { onSweep: () => swept++ }), map(() => 'x'));
      expectObservable(out, '^ 50ms !').toBe('x');
    });
    assert.equal(swept, 0);
  });

  test('labels named like Object.prototype members: smoothed faces and the label counts are correct', () => {
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    // built with JSON.parse, as a message from another node would be (`__proto__` is then an own key)
    const json = names.map((x, i) => `{"id": ${i + 1}, "emotion": {"label": "${x}", "confidence": 0.9, "probabilities": {"${x}": 0.9, "neutral": 0.1}}}`);
    const faces: EmotionFace[] = JSON.parse(`[${json.join(', ')}]`);
    names.forEach((x, i) => assert.equal(Object.getOwnPropertyDescriptor(faces[i].emotion.probabilities, x)?.value, 0.9));
    for (const method of ['ema', 'mean', 'majority'] as const) {
      const ts = scheduler();
      const outs: SmoothOutput[] = [];
      ts.run(({ cold }) => {
        cold('a 99ms a 99ms (a|)', { a: { faces } }).pipe(smoothFaces({ method }, ts)).subscribe((o) => outs.push(o));
      });
      const last = outs[outs.length - 1];
      assert.deepEqual(last.faces.map((f) => f.smoothed.label), names, method);
      for (const [i, f] of last.faces.entries()) {
        assert.ok(Math.abs(f.smoothed.confidence - (method === 'majority' ? 1 : 0.9)) < 1e-9, `${method} ${names[i]}: ${f.smoothed.confidence}`);
        assert.deepEqual(Object.entries(f.smoothed.probabilities).map(([k, v]) => [k, Math.round(v * 1e9) / 1e9]).sort(), [[names[i], 0.9], ['neutral', 0.1]].sort());
      }
      assert.equal(Object.getPrototypeOf(last.labels), Object.prototype);
      assert.deepEqual(Object.entries(last.labels).sort(), names.map((x) => [x, 1]).sort());
    }
  });

  test('invalid options throw when the operator is created', () => {
    assert.throws(() => smoothFaces({ windowMs: -1 }), /windowMs/);
  });
});

test('fractional trackTimeoutMs at wall-clock times: the sweep at the expiry forgets the track (no 0 ms re-arm at a clock that has not moved)', () => {
  // 4.03 s × 1000 is 4030.0000000000005 ms; at Date.now()'s magnitude, lastClock + that rounds to
  // lastClock + 4030, where `clock - lastClock >= 4030.0000000000005` does not hold yet.
  const N = 1_764_000_000_000;
  const sched = new ManualScheduler({ clock: N, maxRuns: 100 });
  const sweeps: Array<[number, number]> = [];
  const input = new Subject<SmoothInput>();
  const sub = input.pipe(smoothFaces({ trackTimeoutMs: 4.03 * 1000 }, sched.rx, { onSweep: (n) => sweeps.push([sched.clock - N, n]) })).subscribe();
  input.next({ faces: [face(1, 'happy')] });
  sched.advance(60_000);
  assert.deepEqual(sweeps, [[4030, 1]]);
  assert.equal(sched.runs, 1, 'one timer run');
  sub.unsubscribe();
});

test('the clock stepping back (NTP): the sweep forgets the tracks of a source that stopped, trackTimeoutMs after its last frame, not the step later', () => {
  const sched = new ManualScheduler({ clock: 1_764_000_000_000 });
  const seen: string[] = [];
  const input = new Subject<SmoothInput>();
  const sub = input
    .pipe(smoothFaces({ trackTimeoutMs: 2000 }, sched.rx, { onSweep: (n, left) => seen.push(`${sched.elapsed} swept ${n}, ${left} left`) }))
    .subscribe((o) => o.lost.forEach((l) => seen.push(`${sched.elapsed} lost ${l.sourceId}#${l.id} ${l.reason}`)));
  // Camera a sends a frame every 100 ms; camera b stops at 1000, when the clock steps back an hour.
  for (let t = 0; t <= 5000; t += 100) {
    if (t === 1100) sched.stepClock(-3_600_000);
    input.next({ faces: [face(1, 'happy')], sourceId: 'a', timestamp: sched.clock });
    if (t <= 1000) input.next({ faces: [face(2, 'happy')], sourceId: 'b', timestamp: sched.clock });
    sched.advance(100);
  }
  assert.deepEqual(seen, [
    '1100 lost a#1 clock', // a's own frame times jumped back: its track starts afresh (by design)
    // b's track on the timer: 2 s after its last frame, but for the 100 ms around the step
    '3100 swept 1, 1 left',
    '3100 lost b#2 timeout',
  ]);
  sub.unsubscribe();
});

// Node's timers take at most 2^31 - 1 ms (24.8 days) and run a longer one after 1 ms: a library
// user's month-long trackTimeoutMs re-armed the sweep every millisecond (the node caps it at 1 h).
test('a trackTimeoutMs beyond 24.8 days never asks for a longer timer, and the track is still forgotten on time', () => {
  const MAX = 2 ** 31 - 1;
  const DAY = 86_400_000;
  const sched = new ManualScheduler({ clock: 1_764_000_000_000, maxRuns: 50 });
  const sweeps: string[] = [];
  const input = new Subject<SmoothInput>();
  const sub = input.pipe(smoothFaces({ trackTimeoutMs: 30 * DAY }, sched.rx, { onSweep: (n) => sweeps.push(`${sched.elapsed / DAY}d swept ${n}`) })).subscribe();
  input.next({ faces: [face(1, 'happy')], timestamp: sched.clock });
  sched.advance(31 * DAY);
  assert.deepEqual(sweeps, ['30d swept 1']);
  assert.ok(sched.delays.length > 0 && sched.delays.every((d) => d <= MAX), `timer delays ${sched.delays.join(', ')}`);
  assert.ok(sched.runs < 10, `${sched.runs} timer runs`);
  sub.unsubscribe();
});
