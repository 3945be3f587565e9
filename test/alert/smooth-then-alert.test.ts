/** smoothFaces → alertEvents, as the README shows it: smoothing stops alert flapping (virtual time). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { AlertEvent, alertEvents, AlertRule } from '../../src/alert';
import { EmotionFace, smoothFaces, SmoothInput } from '../../src/smooth';

/** 10 s of 10 fps frames: face 1 is sad, but every 4th frame is misread as neutral. */
function frames(): Array<[number, EmotionFace[]]> {
  const out: Array<[number, EmotionFace[]]> = [];
  for (let i = 0; i < 100; i++) {
    const sad = i % 4 !== 3;
    const p = { sadness: sad ? 0.8 : 0.3, neutral: sad ? 0.2 : 0.7 };
    out.push([i * 100, [{ id: 1, emotion: { label: sad ? 'sadness' : 'neutral', confidence: sad ? 0.8 : 0.7, probabilities: p } }]]);
  }
  return out;
}

function run(smooth: boolean): AlertEvent[] {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const got: AlertEvent[] = [];
  const rule: AlertRule = { name: 'sad', labels: ['sadness'], threshold: 0.6, minDurationMs: 1000 };
  ts.run(() => {
    const input = new Subject<SmoothInput>();
    const faces$ = smooth ? input.pipe(smoothFaces({ method: 'ema', halfLifeMs: 300 }, ts), map(({ faces }) => ({ faces }))) : input;
    const sub = faces$.pipe(alertEvents([rule], { updateIntervalMs: 0 }, ts)).subscribe((e) => got.push(e));
    for (const [t, faces] of frames()) ts.schedule(() => input.next({ faces }), t);
    ts.schedule(() => sub.unsubscribe(), 9950);
  });
  return got;
}

test('raw labels never hold for the minimum duration, so the alert never starts', () => {
  assert.deepEqual(run(false), []);
});

test('smoothed labels hold: exactly one start, 1 s after the first frame, and no flapping', () => {
  const events = run(true);
  assert.deepEqual(events.map((e) => [e.event, e.timestamp, e.since, e.label]), [['start', 1000, 0, 'sadness']]);
  assert.ok((events[0].score as number) > 0.6);
});
