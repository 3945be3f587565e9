/** @test {alertEvents} rules → start/update/end in virtual time (TestScheduler). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { map, Subject, Subscription, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { AlertEngine, AlertEvent, alertEvents, AlertInput, AlertOptions, AlertRule, resolveAlertOptions, resolveRules } from '../../src/alert';
import type { TrackedFace } from '../../src/smooth';
import { ManualScheduler } from '../helpers/schedulers';
import { CANONICAL_LABELS, LABEL_SYNONYMS } from '../../src/classify';

const newScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

/** A face whose raw (and, if given, smoothed) emotion is `label` with `confidence`. */
function face(id: number, label: string, confidence = 0.9, smoothed?: [string, number]): TrackedFace {
  const f: TrackedFace = { id, score: 0.95, emotion: { label, confidence, probabilities: { [label]: confidence } } };
  if (smoothed) f.smoothed = { label: smoothed[0], confidence: smoothed[1], probabilities: { [smoothed[0]]: smoothed[1] }, since: 0 };
  return f;
}

type Frames = Array<[number, TrackedFace[], string?]>;
/** Frames every `step` ms in [from, to] built by `make(t)`. */
function every(from: number, to: number, step: number, make: (t: number) => TrackedFace[]): Frames {
  const out: Frames = [];
  for (let t = from; t <= to; t += step) out.push([t, make(t)]);
  return out;
}

const fmt = (e: AlertEvent) =>
  `${e.timestamp} ${e.event} ${e.rule}${e.trackId === null ? '' : `#${e.trackId}`} ${e.label ?? '-'} since=${e.since} dur=${e.duration}${e.reason ? ` ${e.reason}` : ''}`;

/** Feeds `frames` at their virtual times, stops at `until`, returns the events as strings. */
function run(rules: AlertRule[], options: AlertOptions, frames: Frames, until: number): string[] {
  const ts = newScheduler();
  const out: string[] = [];
  ts.run(() => {
    const input = new Subject<AlertInput>();
    const sub = input.pipe(alertEvents(rules, options, ts)).subscribe((e) => out.push(fmt(e)));
    for (const [t, faces, sourceId] of frames) ts.schedule(() => input.next({ faces, sourceId }), t);
    ts.schedule(() => sub.unsubscribe(), until);
  });
  return out;
}

const sad: AlertRule = { name: 'sad', labels: ['sad'], threshold: 0.6, minDurationMs: 300 };

describe('emotion rules', () => {
  test('start after minDurationMs, rate-limited updates, end when the label changes', () => {
    const frames = every(0, 2000, 100, (t) => [t < 1600 ? face(1, 'sadness', 0.8) : face(1, 'happy', 0.9)]);
    assert.deepEqual(run([sad], { updateIntervalMs: 500 }, frames, 2500), [
      '300 start sad#1 sadness since=0 dur=300',
      '800 update sad#1 sadness since=0 dur=800',
      '1300 update sad#1 sadness since=0 dur=1300',
      '1600 end sad#1 sadness since=0 dur=1600 cleared',
    ]);
  });

  test('below the threshold nothing fires; exactly at it, it does', () => {
    const below = every(0, 1000, 100, () => [face(1, 'sadness', 0.59)]);
    assert.deepEqual(run([sad], {}, below, 1000), []);
    const at = every(0, 1000, 100, () => [face(1, 'sadness', 0.6)]);
    assert.deepEqual(run([sad], { updateIntervalMs: 0 }, at, 1000), ['300 start sad#1 sadness since=0 dur=300']);
  });

  test('smoothed label and confidence are preferred; raw emotion is the fallback', () => {
    const flicker = every(0, 1000, 100, () => [face(1, 'sadness', 0.9, ['neutral', 0.7])]);
    assert.deepEqual(run([sad], {}, flicker, 1000), []);
    assert.deepEqual(run([{ ...sad, source: 'raw' }], { updateIntervalMs: 0 }, flicker, 1000), ['300 start sad#1 sadness since=0 dur=300']);
    const smoothedSad = every(0, 1000, 100, () => [face(1, 'happy', 0.9, ['sadness', 0.65])]);
    assert.deepEqual(run([sad], { updateIntervalMs: 0 }, smoothedSad, 1000), ['300 start sad#1 sadness since=0 dur=300']);
  });

  test('timers: a start falls due between frames, and an alert ends when its face times out', () => {
    assert.deepEqual(run([sad], { faceTimeoutMs: 2000, updateIntervalMs: 0 }, [[0, [face(1, 'sadness')]]], 5000), [
      '300 start sad#1 sadness since=0 dur=300',
      '2000 end sad#1 sadness since=0 dur=2000 lost',
    ]);
  });

  test('cooldown: no new start until cooldownMs after the end, then since = when the condition began', () => {
    const frames = every(0, 3000, 100, (t) => [t >= 500 && t < 700 ? face(1, 'happy') : face(1, 'sadness')]);
    const rule = { ...sad, minDurationMs: 0, cooldownMs: 1000 };
    assert.deepEqual(run([rule], { updateIntervalMs: 0 }, frames, 3000), [
      '0 start sad#1 sadness since=0 dur=0',
      '500 end sad#1 sadness since=0 dur=500 cleared',
      '1500 start sad#1 sadness since=700 dur=800',
    ]);
  });

  test('duplicates suppressed: repeated frames, even at the same instant, give one start', () => {
    const frames: Frames = [];
    for (let t = 0; t <= 1000; t += 50) frames.push([t, [face(1, 'sadness')]], [t, [face(1, 'sadness')]]);
    assert.deepEqual(run([{ ...sad, minDurationMs: 0 }], { updateIntervalMs: 0 }, frames, 1000), ['0 start sad#1 sadness since=0 dur=0']);
  });

  test('scope face: one alert per track; scope any: one alert held while any face qualifies', () => {
    // face 1 sad 0..1000, face 2 sad 0..2000 (both then gone)
    const frames = every(0, 2000, 100, (t) => (t <= 1000 ? [face(1, 'sadness'), face(2, 'sadness', 0.95)] : [face(2, 'sadness', 0.95)]));
    const opts = { updateIntervalMs: 0, faceTimeoutMs: 500 };
    assert.deepEqual(run([{ ...sad, minDurationMs: 0 }], opts, frames, 4000), [
      '0 start sad#1 sadness since=0 dur=0',
      '0 start sad#2 sadness since=0 dur=0',
      '1500 end sad#1 sadness since=0 dur=1500 lost',
      '2500 end sad#2 sadness since=0 dur=2500 lost',
    ]);
    assert.deepEqual(run([{ ...sad, minDurationMs: 0, scope: 'any' }], opts, frames, 4000), [
      '0 start sad#2 sadness since=0 dur=0',
      '2500 end sad#2 sadness since=0 dur=2500 lost',
    ]);
  });

  test('scope any ends with reason cleared when faces remain but none qualifies', () => {
    const frames = every(0, 1000, 100, (t) => [face(1, t < 500 ? 'sadness' : 'happy'), face(2, 'happy')]);
    assert.deepEqual(run([{ ...sad, minDurationMs: 0, scope: 'any' }], { updateIntervalMs: 0 }, frames, 1000), [
      '0 start sad#1 sadness since=0 dur=0',
      '500 end sad#1 sadness since=0 dur=500 cleared',
    ]);
  });

  test('scope any ends with reason lost when the face that holds it leaves, even if other faces remain', () => {
    const frames = every(0, 3000, 100, (t) => (t < 1000 ? [face(1, 'sadness'), face(2, 'happy')] : [face(2, 'happy')]));
    assert.deepEqual(run([{ ...sad, minDurationMs: 0, scope: 'any' }], { updateIntervalMs: 0, faceTimeoutMs: 500 }, frames, 3000), [
      '0 start sad#1 sadness since=0 dur=0',
      '1400 end sad#1 sadness since=0 dur=1400 lost',
    ]);
  });

  test('the same track id from two sources is two faces', () => {
    const frames: Frames = [
      [0, [face(1, 'sadness')], 'cam1'],
      [10, [face(1, 'sadness')], 'cam2'],
    ];
    const ts = newScheduler();
    const got: AlertEvent[] = [];
    ts.run(() => {
      const input = new Subject<AlertInput>();
      const sub = input.pipe(alertEvents([{ ...sad, minDurationMs: 0 }], {}, ts)).subscribe((e) => got.push(e));
      for (const [t, faces, sourceId] of frames) ts.schedule(() => input.next({ faces, sourceId }), t);
      ts.schedule(() => sub.unsubscribe(), 100);
    });
    assert.deepEqual(got.map((e) => [e.event, e.sourceId]), [['start', 'cam1'], ['start', 'cam2']]);
  });
});

describe('absence and presence rules', () => {
  test('"no face for N s" fires on a timer without any frame, ends when a face appears (marbles)', () => {
    const ts = newScheduler();
    ts.run(({ hot, expectObservable }) => {
      const input = hot<AlertInput>('1500ms f', { f: { faces: [face(7, 'happy')] } });
      const out = input.pipe(
        alertEvents([{ name: 'nobody', type: 'absence', minDurationMs: 1000 }], { updateIntervalMs: 0 }, ts),
        map((e) => `${e.event}:${e.since}:${e.duration}`),
      );
      expectObservable(out, '^ 3000ms !').toBe('1000ms a 499ms b 999ms c', {
        a: 'start:0:1000',
        b: 'end:0:1500',
        c: 'start:1500:1000',
      });
    });
  });

  test('"no face" counts frames without faces as no face', () => {
    const frames = every(0, 3000, 100, (t) => (t < 1000 ? [face(1, 'happy')] : []));
    assert.deepEqual(run([{ name: 'nobody', type: 'absence', minDurationMs: 1500 }], { updateIntervalMs: 1000 }, frames, 4000), [
      '2400 start nobody - since=900 dur=1500',
      '3400 update nobody - since=900 dur=2500',
    ]);
  });

  test('face appeared / left: start when a track appears, end (lost) faceTimeoutMs after it was last seen', () => {
    const frames = every(0, 1500, 100, (t) => (t < 500 ? [face(1, 'happy')] : t <= 1000 ? [face(1, 'happy'), face(2, 'sadness')] : [face(2, 'sadness')]));
    const presence: AlertRule = { name: 'here', type: 'presence' };
    assert.deepEqual(run([presence], { updateIntervalMs: 0, faceTimeoutMs: 1000 }, frames, 5000), [
      '0 start here#1 happy since=0 dur=0',
      '500 start here#2 sadness since=500 dur=0',
      '2000 end here#1 happy since=0 dur=2000 lost',
      '2500 end here#2 sadness since=500 dur=2000 lost',
    ]);
    // a face must stay 700 ms before it counts as appeared
    assert.deepEqual(run([{ ...presence, minDurationMs: 700 }], { updateIntervalMs: 0, faceTimeoutMs: 1000 }, frames, 5000), [
      '700 start here#1 happy since=0 dur=700',
      '1200 start here#2 sadness since=500 dur=700',
      '2000 end here#1 happy since=0 dur=2000 lost',
      '2500 end here#2 sadness since=500 dur=2000 lost',
    ]);
  });

  test('presence with scope any: "someone is here" from the first face until the last one left', () => {
    const frames = every(0, 1500, 100, (t) => (t < 500 ? [face(1, 'happy')] : [face(2, 'happy')]));
    assert.deepEqual(run([{ name: 'someone', type: 'presence', scope: 'any' }], { updateIntervalMs: 0, faceTimeoutMs: 1000 }, frames, 5000), [
      '0 start someone#1 happy since=0 dur=0',
      '2500 end someone#2 happy since=0 dur=2500 lost',
    ]);
  });

  test('several rules are independent and emit in rule order', () => {
    const frames = every(0, 400, 100, () => [face(1, 'sadness')]);
    assert.deepEqual(run([{ name: 'here', type: 'presence' }, { ...sad, minDurationMs: 0 }], { updateIntervalMs: 0 }, frames, 400), [
      '0 start here#1 sadness since=0 dur=0',
      '0 start sad#1 sadness since=0 dur=0',
    ]);
  });
});

describe('operator lifecycle and validation', () => {
  test('unsubscribing clears every timer', () => {
    const ts = newScheduler();
    ts.run(({ hot, expectObservable }) => {
      const out = hot<AlertInput>('a', { a: { faces: [face(1, 'sadness')] } }).pipe(
        alertEvents([{ name: 'nobody', type: 'absence', minDurationMs: 100 }, { ...sad, minDurationMs: 200 }], {}, ts),
      );
      expectObservable(out, '^ 50ms !').toBe('');
    });
    assert.equal(ts.actions.length, 0);
  });

  test('invalid input errors the stream with a clear TypeError; faces without emotion are fine', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const out = cold<AlertInput>('ab', { a: { faces: [{ id: 1 }] }, b: { faces: 'x' as never } }).pipe(
        alertEvents([{ name: 'here', type: 'presence' }], { updateIntervalMs: 0 }, ts),
        map((e) => e.event),
      );
      expectObservable(out).toBe('a#', { a: 'start' }, new TypeError('msg.payload must be an array of faces (Face[]), got "x"'));
    });
  });

  test('rules are validated on copies with messages naming the rule and field', () => {
    const rules: AlertRule[] = [{ name: 'sad', labels: ['Sad', 'sadness', 'ANGRY'] }];
    const r = resolveRules(rules);
    assert.deepEqual(r[0], { name: 'sad', type: 'emotion', labels: ['sadness', 'anger'], threshold: 0.5, minDurationMs: 0, cooldownMs: 0, scope: 'face', source: 'auto' });
    assert.deepEqual(rules[0].labels, ['Sad', 'sadness', 'ANGRY']);
    assert.equal(resolveRules([{ name: 'n', type: 'absence' }])[0].minDurationMs, 10_000);
    assert.equal(resolveRules([{ name: 'n', type: 'absence', scope: 'face' }])[0].scope, 'any');
    assert.throws(() => resolveRules([{ name: 'a/b', labels: ['happy'] }]), /rule 1 \(a\/b\): `name` must be/);
    assert.throws(() => resolveRules([{ name: 'x', labels: ['happy'] }, { name: 'x', labels: ['happy'] }]), /rule 2 \(x\): the name `x` is used twice/);
    assert.throws(() => resolveRules([{ name: 'x' }]), /needs at least one label/);
    assert.throws(() => resolveRules([{ name: 'x', labels: ['happy'], threshold: 1.5 }]), /`threshold` must be a number in \[0, 1\]/);
    // Presence and absence rules have no threshold: a stale one (hidden in the editor) is ignored.
    assert.equal(resolveRules([{ name: 'p', type: 'presence', threshold: 2 }])[0].threshold, 0.5);
    assert.equal(resolveRules([{ name: 'n', type: 'absence', threshold: 'x' as never }])[0].threshold, 0.5);
    assert.throws(() => resolveRules([{ name: 'x', labels: ['happy'], cooldownMs: -1 }]), /`cooldownMs`/);
    assert.throws(() => resolveRules([{ name: 'x', type: 'absence', minDurationMs: 0 }]), /minDurationMs` > 0/);
    assert.throws(() => resolveRules([{ name: 'x', type: 'bogus' as never }]), /`type` must be one of/);
    assert.throws(() => resolveAlertOptions({ faceTimeoutMs: 0 }), /faceTimeoutMs/);
    assert.throws(() => alertEvents([{ name: 'x' }]), /needs at least one label/);
  });

  test('an unknown label is an error naming it and listing the canonical labels and synonyms', () => {
    const valid = 'anger, contempt, disgust, fear, happy, neutral, sadness, surprise';
    assert.deepEqual([...CANONICAL_LABELS].join(', '), valid);
    assert.throws(
      () => resolveRules([{ name: 'smile', labels: ['joyful'] }]),
      (e: Error) => e instanceof TypeError && e.message === `rule 1 (smile): unknown label \`joyful\`; use one of ${valid} (the labels the models emit) or a synonym: angry, mad, contemptuous, disgusted, fearful, scared, afraid, happiness, joy, smile, calm, sad, surprised`,
    );
    // named even among valid labels, in the rule where it is
    assert.throws(() => resolveRules([{ name: 'a', labels: ['happy'] }, { name: 'b', labels: ['sad', 'Grumpy'] }]), /^TypeError: rule 2 \(b\): unknown label `Grumpy`/);
    assert.throws(() => resolveRules([{ name: 'x', labels: ['constructor'] }]), /unknown label `constructor`/);
    // every canonical label and every synonym, in any case and with spaces, is accepted
    const all = Object.keys(LABEL_SYNONYMS);
    assert.deepEqual(resolveRules([{ name: 'x', labels: all.map((l) => ` ${l.toUpperCase()} `) }])[0].labels, [...CANONICAL_LABELS]);
    // labels of presence and absence rules are not used, so not checked
    assert.deepEqual(resolveRules([{ name: 'p', type: 'presence', labels: ['joyful'] }])[0].labels, []);
  });

  test('AlertEngine reports active alerts and faces for status displays', () => {
    const e = new AlertEngine([{ ...sad, minDurationMs: 0 }, { name: 'here', type: 'presence' }]);
    e.start(0);
    assert.equal(e.observe([face(1, 'sadness'), face(2, 'happy')], 0).length, 3);
    assert.equal(e.activeCount, 3);
    assert.equal(e.faceCount, 2);
    assert.equal(e.nextDeadline(0), 2000);
    assert.equal(e.tick(2000).length, 3);
    assert.equal(e.activeCount, 0);
  });

  test('AlertEngine.endAll: one end (reason closed) per active alert, with its since and duration; then none active and nothing more', () => {
    const e = new AlertEngine([{ ...sad, minDurationMs: 0 }, { name: 'here', type: 'presence' }, { name: 'nobody', type: 'absence', minDurationMs: 500 }]);
    e.start(0);
    e.observe([face(1, 'sadness'), face(2, 'happy')], 100); // sad #1, here #1, here #2
    const ends = e.endAll(400);
    assert.deepEqual(
      ends.map((x) => [x.event, x.rule, x.trackId, x.reason, x.since, x.duration, x.timestamp]),
      [['end', 'sad', 1, 'closed', 100, 300, 400], ['end', 'here', 1, 'closed', 100, 300, 400], ['end', 'here', 2, 'closed', 100, 300, 400]],
    );
    assert.equal(e.activeCount, 0);
    assert.deepEqual(e.endAll(500), [], 'nothing left to end');
  });
});

test('memory stays bounded: many passers-by with a long cooldown keep at most maxFaces states', () => {
  const e = new AlertEngine([{ name: 'sad', labels: ['sadness'], cooldownMs: 3_600_000 }], { maxFaces: 10, faceTimeoutMs: 100, updateIntervalMs: 0 });
  e.start(0);
  let starts = 0;
  for (let i = 0; i < 500; i++) {
    starts += e.observe([face(i, 'sadness')], i * 1000).filter((ev) => ev.event === 'start').length;
    e.tick(i * 1000 + 500);
  }
  assert.equal(starts, 500);
  assert.ok(e.faceCount <= 10);
  // only the 10 newest cooling-down states are kept (faces 490..499): the earliest deadline is
  // the cooldown of face 490, which left at 490 500 ms
  assert.equal(e.nextDeadline(500_000), 490_500 + 3_600_000);
});

describe('face.smoothed', () => {
  const rule: AlertRule = { name: 'sad', labels: ['sadness'], threshold: 0.5 };
  /** A face whose raw emotion is sadness 0.99, with `smoothed` as given (omitted when undefined). */
  const sadFace = (smoothed?: unknown): TrackedFace => {
    const f: TrackedFace = { id: 7, emotion: { label: 'sadness', confidence: 0.99, probabilities: { sadness: 0.99, neutral: 0.01 } } };
    if (smoothed !== undefined) f.smoothed = smoothed as never;
    return f;
  };
  /** One frame through alertEvents (virtual time): the events and the error, if any. */
  function feed(faces: TrackedFace[], rules: AlertRule[] = [rule]): { events: AlertEvent[]; error: unknown } {
    const events: AlertEvent[] = [];
    let error: unknown = null;
    const ts = newScheduler();
    ts.run(() => {
      const input = new Subject<AlertInput>();
      const sub = input.pipe(alertEvents(rules, { updateIntervalMs: 0 }, ts)).subscribe({ next: (e) => events.push(e), error: (e) => (error = e) });
      ts.schedule(() => input.next({ faces }), 0);
      ts.schedule(() => sub.unsubscribe(), 100);
    });
    return { events, error };
  }

  const BAD: Array<[string, unknown, RegExp]> = [
    ['a string', 'garbage', /smoothed is "garbage", expected \{label, confidence, probabilities\}/],
    ['a number', 42, /smoothed is 42, expected/],
    ['null label, NaN confidence', { label: null, confidence: NaN }, /smoothed\.label must be a non-empty string, got null/],
    ['a string confidence', { label: 'sadness', confidence: '0.9' }, /smoothed\.confidence must be a number in \[0, 1\], got "0.9"/],
    ['no label, confidence 7', { confidence: 7 }, /smoothed\.label must be a non-empty string, got undefined/],
    ['confidence 7', { label: 'sadness', confidence: 7 }, /smoothed\.confidence must be a number in \[0, 1\], got 7/],
  ];
  for (const [what, smoothed, re] of BAD) {
    test(`a malformed smoothed (${what}) errors the stream with a TypeError naming the face and field; no alert`, () => {
      const { events, error } = feed([sadFace(smoothed)]);
      assert.deepEqual(events, []);
      assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
      assert.match(error.message, /^face 0 \(track 7\): /);
      assert.match(error.message, re);
      // whatever the rule's source: the message is invalid as a whole
      for (const source of ['raw', 'smoothed'] as const) assert.match(String(feed([sadFace(smoothed)], [{ ...rule, source }]).error), re);
    });
  }

  test('a valid smoothed is preferred over the raw emotion (source auto)', () => {
    const happy = feed([sadFace({ label: 'happy', confidence: 0.9, probabilities: { happy: 0.9, sadness: 0.1 }, since: 0 })]);
    assert.equal(happy.error, null);
    assert.deepEqual(happy.events, []);
    const sadder = feed([sadFace({ label: 'sadness', confidence: 0.7, probabilities: { sadness: 0.7, neutral: 0.3 }, since: 0 })]);
    assert.equal(sadder.error, null);
    assert.deepEqual(sadder.events.map((e) => [e.event, e.label, e.score]), [['start', 'sadness', 0.7]]);
    // without probabilities, as for emotion
    assert.deepEqual(feed([sadFace({ label: 'sadness', confidence: 0.6 })]).events.map((e) => e.score), [0.6]);
  });

  test('an absent (undefined or null) smoothed falls back to the raw emotion', () => {
    for (const smoothed of [undefined, null]) {
      const { events, error } = feed([sadFace(smoothed)]);
      assert.equal(error, null);
      assert.deepEqual(events.map((e) => [e.event, e.trackId, e.label, e.score]), [['start', 7, 'sadness', 0.99]]);
    }
  });
});

test('a timer that fires 1 ms early, with the clock moving on meanwhile, still ends a face that left (no update interval to rescue it)', () => {
  // Node's timers at their worst: the work first reads the clock 1 ms before the due time (libuv's
  // cached loop time and Date.now() differ), and the clock moves on while it runs.
  const sched = new ManualScheduler({ clock: 1000, early: 1, clockMovesDuringWork: true, maxRuns: 100 });
  const out: string[] = [];
  const input = new Subject<AlertInput>();
  const sub = input
    .pipe(alertEvents([{ name: 'visitor', type: 'presence' }], { faceTimeoutMs: 100, updateIntervalMs: 0 }, sched.rx))
    .subscribe((e) => out.push(fmt(e)));
  input.next({ faces: [{ id: 9, score: 0.9 }] });
  sched.advance(10_000);
  assert.deepEqual(out, ['1000 start visitor#9 - since=1000 dur=0', '1100 end visitor#9 - since=1000 dur=100 lost']);
  sub.unsubscribe();
});

test('fractional ms at wall-clock times: a timer at a deadline acts on it (a face times out, an absence starts, updates come), never skips it', () => {
  // 4.03 s × 1000 is 4030.0000000000005 ms; at Date.now()'s magnitude, lastSeen + that rounds to
  // lastSeen + 4030, where `now - lastSeen >= 4030.0000000000005` does not hold yet.
  const ms = 4.03 * 1000;
  const N = 1_764_000_000_000;
  const ts = newScheduler();
  const out: string[] = [];
  ts.run(() => {
    const input = new Subject<AlertInput>();
    const rules: AlertRule[] = [
      { name: 'visitor', type: 'presence' },
      { name: 'empty', type: 'absence', minDurationMs: ms },
    ];
    let sub: Subscription | undefined;
    ts.schedule(() => {
      sub = input
        .pipe(alertEvents(rules, { faceTimeoutMs: ms, updateIntervalMs: ms }, ts))
        .subscribe((e) => out.push(`${e.timestamp - N} ${e.event} ${e.rule}${e.reason ? ` ${e.reason}` : ''}`));
      input.next({ faces: [{ id: 1, score: 0.9 }] });
    }, N);
    ts.schedule(() => input.next({ faces: [{ id: 1, score: 0.9 }] }), N + 100);
    ts.schedule(() => sub?.unsubscribe(), N + 20_000);
  });
  assert.deepEqual(out, [
    '0 start visitor',
    '4030 update visitor', // on the timer: the frames stopped at 100
    '4130 end visitor lost',
    '4130 start empty', // no face since the frame at 100
    '8160 update empty',
    '12190 update empty',
    '16220 update empty',
  ]);
});

test('the clock stepping back (NTP) does not hold alerts for the size of the step: a face that left ends, "no face" starts', () => {
  const sched = new ManualScheduler({ clock: 1_764_000_000_000 });
  const out: string[] = [];
  const input = new Subject<AlertInput>();
  const rules: AlertRule[] = [
    { name: 'visitor', type: 'presence' },
    { name: 'empty', type: 'absence', minDurationMs: 5000 },
  ];
  const sub = input
    .pipe(alertEvents(rules, { faceTimeoutMs: 2000, updateIntervalMs: 0 }, sched.rx))
    .subscribe((e) => out.push(`${sched.elapsed} ${e.event} ${e.rule} dur=${e.duration}${e.reason ? ` ${e.reason}` : ''}`));
  // A frame every 100 ms; the face is in view until 1000, then the clock steps back an hour.
  for (let t = 0; t <= 10_000; t += 100) {
    if (t === 1100) sched.stepClock(-3_600_000);
    input.next({ faces: t <= 1000 ? [{ id: 1, score: 0.9 }] : [] });
    sched.advance(100);
  }
  // The 100 ms between the last frame before the step and the first after it count as none.
  assert.deepEqual(out, ['0 start visitor dur=0', '3100 end visitor dur=3000 lost', '6100 start empty dur=5000']);
  sub.unsubscribe();
});

// Frame times of several sources may lag one another by more than the face timeout: that is not
// a clock step (only the operators' single clock is checked for one, through syncClock).
test("AlertEngine fed frame times of two sources, one 2.5 s behind: the other's minDurationMs still holds", () => {
  const e = new AlertEngine([{ name: 'sad', labels: ['sadness'], threshold: 0.6, minDurationMs: 3000 }]);
  const T = 1_764_000_000_000;
  e.start(T);
  const sad = [face(1, 'sadness', 0.9)];
  let startedAfter: number | null = null;
  for (let k = 0; k < 40 && startedAfter === null; k++) {
    for (const ev of e.observe(sad, T + k * 100, 'A')) if (ev.event === 'start') startedAfter = k * 100;
    e.observe([], T - 2500 + k * 100, 'B');
  }
  assert.equal(startedAfter, 3000);
});

// Node's timers take at most 2^31 - 1 ms (24.8 days) and run a longer one after 1 ms: a rule of a
// month (the editor takes any number of seconds) re-armed its timer every millisecond.
test('deadlines beyond 24.8 days (a month of "no face", a month of cooldown) never ask for a longer timer, and still fire on time', () => {
  const MAX = 2 ** 31 - 1;
  const DAY = 86_400_000;
  const sched = new ManualScheduler({ clock: 1_764_000_000_000, maxRuns: 50 });
  const out: string[] = [];
  const input = new Subject<AlertInput>();
  const rules: AlertRule[] = [
    { name: 'away', type: 'absence', minDurationMs: 30 * DAY },
    { name: 'visitor', type: 'presence', cooldownMs: 40 * DAY },
  ];
  const sub = input
    .pipe(alertEvents(rules, { faceTimeoutMs: 2000, updateIntervalMs: 0 }, sched.rx))
    .subscribe((e) => out.push(`${sched.elapsed / DAY}d ${e.event} ${e.rule}`));
  input.next({ faces: [{ id: 1, score: 0.9 }] }); // visitor starts; ends 2 s later, then 40 days of cooldown
  sched.advance(31 * DAY);
  assert.deepEqual(out, ['0d start visitor', `${2000 / DAY}d end visitor`, '30d start away']);
  assert.ok(sched.delays.length > 0 && sched.delays.every((d) => d <= MAX), `timer delays ${sched.delays.join(', ')}`);
  assert.ok(sched.runs < 10, `${sched.runs} timer runs`);
  sub.unsubscribe();
});

test('unsubscribed from inside an event (take(1)): no timer runs afterwards, whether the event came from a frame or a timer', () => {
  // A frame's start: the operator armed its update timer after emitting, past its own teardown.
  const sched = new ManualScheduler({ clock: 1000 });
  const input = new Subject<AlertInput>();
  const got: string[] = [];
  input.pipe(alertEvents([{ name: 'here', type: 'presence' }], { updateIntervalMs: 100, faceTimeoutMs: 100_000 }, sched.rx), take(1)).subscribe((e) => got.push(fmt(e)));
  input.next({ faces: [{ id: 1, score: 0.9 }] });
  sched.advance(10_000);
  assert.deepEqual(got, ['1000 start here#1 - since=1000 dur=0']);
  assert.equal(sched.runs, 0, 'no timer after the unsubscribe');
  // A timer's start ("no face"): the timer re-armed itself after emitting.
  const sched2 = new ManualScheduler({ clock: 1000 });
  const got2: string[] = [];
  new Subject<AlertInput>()
    .pipe(alertEvents([{ name: 'nobody', type: 'absence', minDurationMs: 100 }], { updateIntervalMs: 100 }, sched2.rx), take(1))
    .subscribe((e) => got2.push(fmt(e)));
  sched2.advance(10_000);
  assert.deepEqual(got2, ['1100 start nobody - since=1000 dur=100']);
  assert.equal(sched2.runs, 1, 'only the timer that started it');
});
