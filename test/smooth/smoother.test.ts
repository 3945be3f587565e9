/** @test {EmotionSmoother} maths, hysteresis and track lifetime (plain class, explicit time). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFaces, emaAlpha, EmotionFace, EmotionSmoother, resolveSmoothOptions } from '../../src/smooth';

const LABELS = ['happy', 'sadness', 'neutral'] as const;
/** A face whose classifier says `label` with probability `p` (the rest spread evenly). */
function face(id: number, label: string, p = 1): EmotionFace {
  const probabilities: Record<string, number> = {};
  for (const l of LABELS) probabilities[l] = l === label ? p : (1 - p) / (LABELS.length - 1);
  return { id, emotion: { label, confidence: p, probabilities } };
}
const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

describe('EMA', () => {
  test('alpha follows the half-life: 1/2 after one, 3/4 after two, 0 for dt <= 0', () => {
    close(emaAlpha(500, 500), 0.5);
    close(emaAlpha(1000, 500), 0.75);
    assert.equal(emaAlpha(0, 500), 0);
    assert.equal(emaAlpha(-5, 500), 0);
  });

  test('weighs every observation by 2^(-age / half-life), with the real (irregular) dt', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 500, minDwellMs: 0, margin: 0, trackTimeoutMs: 10_000 });
    const w = (ageMs: number) => Math.pow(2, -ageMs / 500);
    s.observe([face(1, 'happy')], 0);
    let r = s.observe([face(1, 'sadness')], 500);
    close(r.faces[0].smoothed.probabilities.happy, w(500) / (w(500) + 1));
    r = s.observe([face(1, 'sadness')], 600); // 100 ms later
    close(r.faces[0].smoothed.probabilities.happy, w(600) / (w(600) + w(100) + 1));
    r = s.observe([face(1, 'sadness')], 2600); // after a 2 s gap
    close(r.faces[0].smoothed.probabilities.happy, w(2600) / (w(2600) + w(2100) + w(2000) + 1));
  });

  test('a new track is the mean of what was seen so far: a misread first frame does not dominate', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 500 });
    s.observe([face(1, 'sadness')], 0);
    const r = s.observe([face(1, 'happy')], 0); // same instant: both count the same
    close(r.faces[0].smoothed.probabilities.happy, 0.5);
  });

  test('in steady state it is a standard EMA: the same step response at 5, 10 and 30 fps', () => {
    const at = (fps: number) => {
      const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 400, trackTimeoutMs: 60_000 });
      let t = 0;
      for (; t < 5000; t += 1000 / fps) s.observe([face(1, 'happy')], t); // settle for 12 half-lives
      const step = t;
      let last = 0;
      for (; t <= step + 1000 + 1e-9; t += 1000 / fps) last = s.observe([face(1, 'sadness')], t).faces[0].smoothed.probabilities.sadness;
      return last;
    };
    // share of the observations in the last 1000 ms, when the old ones have weighed 1 all along
    const expected = (fps: number) => {
      const d = Math.pow(2, -1000 / fps / 400);
      return 1 - Math.pow(d, Math.floor(fps) + 1);
    };
    for (const fps of [5, 10, 30]) close(at(fps), expected(fps), 1e-3);
    // and the frame rate hardly matters: within 0.06 of the continuous-time 1 - 2^(-1000/400)
    for (const fps of [5, 10, 30]) assert.ok(Math.abs(at(fps) - (1 - Math.pow(2, -1000 / 400))) < 0.06);
  });
});

describe('sliding window', () => {
  test('mean of the observations within the last windowMs', () => {
    const s = new EmotionSmoother({ method: 'mean', windowMs: 1000, minDwellMs: 0, margin: 0 });
    s.observe([face(1, 'happy', 1)], 0);
    s.observe([face(1, 'happy', 1)], 400);
    s.observe([face(1, 'sadness', 1)], 800);
    let r = s.observe([face(1, 'sadness', 1)], 1000); // window (0, 1000]: 400, 800, 1000
    close(r.faces[0].smoothed.probabilities.happy, 1 / 3);
    close(r.faces[0].smoothed.probabilities.sadness, 2 / 3);
    r = s.observe([face(1, 'sadness', 1)], 1500); // window (500, 1500]: 800, 1000, 1500
    close(r.faces[0].smoothed.probabilities.happy, 0);
    assert.equal(r.faces[0].smoothed.label, 'sadness');
  });

  test('majority vote: the top label of most observations wins; confidence is its vote share', () => {
    const s = new EmotionSmoother({ method: 'majority', windowMs: 1000, minDwellMs: 0, margin: 0 });
    // sadness wins 3 of 5 votes although happy has the higher mean probability
    const seq: Array<[string, number]> = [['happy', 1], ['sadness', 0.4], ['happy', 1], ['sadness', 0.4], ['sadness', 0.4]];
    let r = s.observe([face(1, ...seq[0])], 0);
    seq.slice(1).forEach((f, i) => (r = s.observe([face(1, ...f)], 100 * (i + 1))));
    const sm = r.faces[0].smoothed;
    assert.equal(sm.label, 'sadness');
    close(sm.confidence, 3 / 5);
    assert.ok(sm.probabilities.happy > sm.probabilities.sadness, 'probabilities stay the window mean');
  });

  for (const method of ['mean', 'majority'] as const) {
    test(`${method}: a later change to an input's probabilities (a node downstream rescaling them in place) does not change the window`, () => {
      const s = new EmotionSmoother({ method, windowMs: 1000, minDwellMs: 0, margin: 0 });
      const first = s.observe([face(1, 'happy', 0.8)], 0).faces[0];
      for (const k of Object.keys(first.emotion.probabilities)) first.emotion.probabilities[k] *= 100; // percent, for a dashboard
      const sm = s.observe([face(1, 'happy', 0.8)], 100).faces[0].smoothed;
      close(sm.probabilities.happy, 0.8);
      close(sm.probabilities.sadness, 0.1);
      assert.equal(sm.label, 'happy');
      assert.ok(sm.confidence <= 1, `confidence ${sm.confidence}`);
    });
  }

  test('the window is bounded by maxSamples', () => {
    const s = new EmotionSmoother({ method: 'mean', windowMs: 10_000, maxSamples: 3, minDwellMs: 0, margin: 0 });
    ['happy', 'happy', 'happy', 'sadness', 'sadness', 'sadness'].forEach((l, i) => s.observe([face(1, l)], i));
    const r = s.observe([face(1, 'sadness')], 10);
    close(r.faces[0].smoothed.probabilities.sadness, 1);
  });
});

describe('hysteresis', () => {
  // halfLife 1 ms: smoothing is negligible at 100 ms steps, so only the hysteresis acts.
  const raw = { method: 'ema' as const, halfLifeMs: 1 };

  test('the stable label changes only after the challenger has won for minDwellMs; since = when it began', () => {
    const s = new EmotionSmoother({ ...raw, minDwellMs: 300, margin: 0.1 });
    assert.equal(s.observe([face(1, 'happy')], 0).faces[0].smoothed.label, 'happy');
    const labels: string[] = [];
    let since = -1;
    for (let t = 1000; t <= 1400; t += 100) {
      const sm = s.observe([face(1, 'sadness')], t).faces[0].smoothed;
      labels.push(sm.label);
      since = sm.since;
    }
    assert.deepEqual(labels, ['happy', 'happy', 'happy', 'sadness', 'sadness']);
    assert.equal(since, 1000);
  });

  test('an interrupted challenge starts its dwell again', () => {
    const s = new EmotionSmoother({ ...raw, minDwellMs: 300, margin: 0 });
    s.observe([face(1, 'happy')], 0);
    s.observe([face(1, 'sadness')], 100);
    s.observe([face(1, 'sadness')], 300);
    s.observe([face(1, 'happy')], 350); // interruption
    assert.equal(s.observe([face(1, 'sadness')], 450).faces[0].smoothed.label, 'happy'); // 450-100 >= 300 but reset
    assert.equal(s.observe([face(1, 'sadness')], 700).faces[0].smoothed.label, 'happy');
    assert.equal(s.observe([face(1, 'sadness')], 750).faces[0].smoothed.label, 'sadness');
  });

  test('a lead smaller than the margin never changes the label', () => {
    const s = new EmotionSmoother({ method: 'mean', windowMs: 50, minDwellMs: 0, margin: 0.2 });
    const close2 = (id: number, a: number, b: number): EmotionFace => ({
      id,
      emotion: { label: a > b ? 'sadness' : 'happy', confidence: Math.max(a, b), probabilities: { happy: b, sadness: a } },
    });
    s.observe([close2(1, 0.4, 0.6)], 0); // happy
    for (let t = 100; t < 2000; t += 100) assert.equal(s.observe([close2(1, 0.55, 0.45)], t).faces[0].smoothed.label, 'happy');
    assert.equal(s.observe([close2(1, 0.7, 0.3)], 2000).faces[0].smoothed.label, 'sadness'); // lead 0.4 >= 0.2
  });

  test('warm-up: a misread first frame is corrected within the warm-up (2 half-lives); afterwards hysteresis holds', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 500, minDwellMs: 300, margin: 0.1 });
    const label = (l: string, t: number) => s.observe([face(1, l, 0.8)], t).faces[0].smoothed;
    assert.equal(label('sadness', 0).label, 'sadness'); // misread
    const fixed = label('happy', 100); // happy is on top at once, and inside the 1 s warm-up no dwell is needed
    assert.deepEqual([fixed.label, fixed.since], ['happy', 100]);
    for (let t = 200; t <= 2000; t += 100) label('happy', t);
    // after the warm-up a short burst of sadness does not flip the label
    assert.equal(label('sadness', 2100).label, 'happy');
    assert.equal(label('sadness', 2200).label, 'happy');
    assert.equal(label('happy', 2300).label, 'happy');
  });

  test('confidence is the smoothed score of the stable label, not of the challenger', () => {
    const s = new EmotionSmoother({ ...raw, minDwellMs: 1000, margin: 0 });
    s.observe([face(1, 'happy', 0.9)], 0);
    const sm = s.observe([face(1, 'sadness', 0.8)], 100).faces[0].smoothed;
    assert.equal(sm.label, 'happy');
    close(sm.confidence, sm.probabilities.happy);
    assert.ok(sm.confidence < 0.2);
  });
});

describe('tracks', () => {
  test('are independent per id', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 200, minDwellMs: 0, margin: 0 });
    for (let t = 0; t <= 1000; t += 100) {
      const r = s.observe([face(1, 'happy'), face(2, 'sadness')], t);
      assert.deepEqual(r.faces.map((f) => f.smoothed.label), ['happy', 'sadness']);
    }
    assert.equal(s.size, 2);
    assert.deepEqual(s.labelCounts(), { happy: 1, sadness: 1 });
  });

  test('the same id from two sources are two tracks', () => {
    const s = new EmotionSmoother({ minDwellMs: 0 });
    s.observe([face(1, 'happy')], 0, { sourceId: 'cam1' });
    const r = s.observe([face(1, 'sadness')], 10, { sourceId: 'cam2' });
    assert.equal(r.faces[0].smoothed.label, 'sadness');
    assert.equal(s.size, 2);
  });

  test('a track not seen for trackTimeoutMs is forgotten, reported lost once, and restarts fresh', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 10_000, trackTimeoutMs: 1000 });
    s.observe([face(1, 'happy'), face(2, 'neutral')], 0);
    let r = s.observe([face(2, 'neutral')], 900);
    assert.deepEqual(r.lost, []);
    r = s.observe([face(2, 'neutral')], 1000);
    assert.equal(r.lost.length, 1);
    assert.deepEqual(r.lost[0], { id: 1, label: 'happy', confidence: 1, since: 0, lastSeen: 0, reason: 'timeout' });
    assert.deepEqual(s.observe([face(2, 'neutral')], 1100).lost, []);
    r = s.observe([face(1, 'sadness')], 1200); // with a 10 s half-life an old track would still say happy
    assert.equal(r.faces[0].smoothed.label, 'sadness');
    assert.equal(r.faces[0].smoothed.since, 1200);
  });

  test('sweep() forgets tracks on the caller clock when frames stop; nextExpiry says when', () => {
    const s = new EmotionSmoother({ trackTimeoutMs: 500 });
    s.observe([face(1, 'happy')], 1e12, { clock: 100 }); // message time in another epoch than the clock
    assert.equal(s.nextExpiry(), 600);
    assert.equal(s.sweep(599), 0);
    assert.equal(s.sweep(600), 1);
    assert.equal(s.size, 0);
    assert.equal(s.nextExpiry(), null);
    assert.equal(s.observe([], 1e12 + 1000, { clock: 1100 }).lost[0].id, 1);
  });

  test('maxTracks bounds memory: the least recently seen track goes first', () => {
    const s = new EmotionSmoother({ maxTracks: 2 });
    s.observe([face(1, 'happy')], 0);
    s.observe([face(2, 'happy')], 1);
    s.observe([face(1, 'happy')], 2);
    const r = s.observe([face(3, 'happy')], 3);
    assert.deepEqual(r.lost.map((l) => [l.id, l.reason]), [[2, 'capacity']]);
  });

  test('out-of-order timestamps never move a track back in time', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 100, minDwellMs: 0, margin: 0 });
    s.observe([face(1, 'happy')], 1000);
    const r = s.observe([face(1, 'sadness')], 500);
    assert.ok(Number.isFinite(r.faces[0].smoothed.probabilities.sadness));
    assert.ok(r.faces[0].smoothed.since >= 1000);
  });

  test('time jumping back by trackTimeoutMs or more (restarted sender) starts the track afresh (reason clock); a new label then wins as usual', () => {
    const s = new EmotionSmoother({ method: 'ema', halfLifeMs: 500, trackTimeoutMs: 2000 });
    for (let t = 0; t <= 3000; t += 100) s.observe([face(1, 'happy', 0.9)], 60_000 + t);
    const r0 = s.observe([face(1, 'neutral', 0.95)], 3100); // 60 s back
    assert.deepEqual(r0.lost.map((l) => [l.id, l.reason, l.label]), [[1, 'clock', 'happy']]);
    let r = r0;
    for (let t = 3200; t <= 13_000; t += 100) r = s.observe([face(1, 'neutral', 0.95)], t);
    assert.equal(r.faces[0].smoothed.label, 'neutral');
    assert.ok(Math.abs(r.faces[0].smoothed.confidence - 0.95) < 1e-6, String(r.faces[0].smoothed.confidence));
    // a step back shorter than the timeout is an out-of-order frame: clamped, the track is kept
    const k = new EmotionSmoother({ trackTimeoutMs: 2000 });
    k.observe([face(1, 'happy')], 5000);
    assert.deepEqual(k.observe([face(1, 'happy')], 3500).lost, []);
  });

  test('a time that is not a finite number is a TypeError naming it (it would freeze the track)', () => {
    const s = new EmotionSmoother();
    for (const t of [NaN, Infinity, undefined as unknown as number]) {
      assert.throws(() => s.observe([face(1, 'happy')], t), (e: unknown) => e instanceof TypeError && /`t`.*finite number/.test(e.message));
    }
    assert.equal(s.size, 0);
  });

  test('inputs are not mutated; other face fields pass through', () => {
    const s = new EmotionSmoother();
    const f = { ...face(1, 'happy'), box: { x: 1, y: 2, width: 3, height: 4 } };
    const r = s.observe([f], 0);
    assert.equal('smoothed' in f, false);
    assert.deepEqual(r.faces[0].box, f.box);
  });

  test('probabilities missing: {label: confidence} is used', () => {
    const s = new EmotionSmoother();
    const r = s.observe([{ id: 0, emotion: { label: 'happy', confidence: 0.7 } } as unknown as EmotionFace], 0);
    assert.deepEqual(r.faces[0].smoothed.probabilities, { happy: 0.7 });
  });
});

describe('validation', () => {
  test('checkFaces names the problem', () => {
    const ok = face(1, 'happy');
    const cases: Array<[unknown, RegExp]> = [
      [{}, /must be an array of faces/],
      ['x', /got "x"/],
      [[null], /face 0 is null/],
      [[{ emotion: ok.emotion }], /invalid track id undefined/],
      [[{ ...ok, id: -1 }], /invalid track id -1/],
      [[{ ...ok, id: 1.5 }], /invalid track id 1.5/],
      [[{ ...ok, id: '1' }], /invalid track id "1"/],
      [[ok, ok], /appears twice/],
      [[{ id: 1 }], /has no emotion: wire the classifier/],
      [[{ id: 1, emotion: 'happy' }], /emotion is "happy"/],
      [[{ id: 1, emotion: { ...ok.emotion, probabilities: { happy: NaN } } }], /probabilities.happy must be a number in \[0, 1\], got NaN/],
      [[{ id: 1, emotion: { ...ok.emotion, confidence: 2 } }], /confidence must be a number in \[0, 1\]/],
      [[{ id: 1, emotion: { ...ok.emotion, probabilities: {} } }], /probabilities is empty/],
    ];
    for (const [payload, re] of cases) assert.match(String(checkFaces(payload)), re);
    assert.equal(checkFaces([]), null);
    assert.equal(checkFaces([ok]), null);
    assert.equal(checkFaces([{ id: 1 }], { requireEmotion: false }), null);
  });

  test('options are validated on a copy with clear messages', () => {
    const o = { halfLifeMs: 100 };
    assert.equal(resolveSmoothOptions(o).halfLifeMs, 100);
    assert.deepEqual(o, { halfLifeMs: 100 });
    assert.throws(() => resolveSmoothOptions({ method: 'median' as never }), /`method` to be one of ema, mean, majority/);
    assert.throws(() => resolveSmoothOptions({ halfLifeMs: 0 }), /`halfLifeMs` to be a number of ms > 0, got `0`/);
    assert.throws(() => resolveSmoothOptions({ margin: 1 }), /`margin`/);
    assert.throws(() => resolveSmoothOptions({ windowMs: NaN }), /`windowMs`/);
    assert.throws(() => resolveSmoothOptions({ maxTracks: 1.5 }), /`maxTracks`/);
  });
});

describe('labels named like Object.prototype members', () => {
  // A custom model can have any class names; these must smooth like any other label.
  const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'] as const;
  const METHODS = ['ema', 'mean', 'majority'] as const;
  /** Built with JSON.parse, as a message from another node would be (`__proto__` is then an own key). */
  const parsed = (id: number, label: string, probabilities: Record<string, number>): EmotionFace => {
    const probs = Object.entries(probabilities)
      .map(([k, v]) => `${JSON.stringify(k)}: ${v}`)
      .join(', ');
    return JSON.parse(`{"id": ${id}, "emotion": {"label": ${JSON.stringify(label)}, "confidence": ${probabilities[label]}, "probabilities": {${probs}}}}`);
  };
  /** `{X: p, neutral: 1 - p}` as an object with an own key X, whatever X is. */
  const probs = (x: string, p: number): Record<string, number> => Object.fromEntries([[x, p], ['neutral', Math.round((1 - p) * 1e9) / 1e9]]);
  const own = (o: object, k: string) => Object.getOwnPropertyDescriptor(o, k)?.value as unknown;

  for (const x of NAMES) {
    for (const method of METHODS) {
      test(`${JSON.stringify(x)} with ${method}: correct label, confidence and probabilities`, () => {
        const input = parsed(1, x, probs(x, 0.9));
        assert.ok(Object.hasOwn(input.emotion.probabilities, x), 'the test input has an own key');
        assert.equal(checkFaces([input]), null);
        const s = new EmotionSmoother({ method, halfLifeMs: 100, windowMs: 500, trackTimeoutMs: 10_000 });
        for (let t = 0; t <= 1000; t += 100) {
          const sm = s.observe([parsed(1, x, probs(x, 0.9))], t).faces[0].smoothed;
          assert.equal(sm.label, x, `label at ${t} ms`);
          close(sm.confidence, method === 'majority' ? 1 : 0.9); // majority: the vote share
          assert.equal(Object.getPrototypeOf(sm.probabilities), Object.prototype, 'a plain object');
          assert.deepEqual(Object.keys(sm.probabilities).sort(), [x, 'neutral'].sort());
          close(own(sm.probabilities, x) as number, 0.9);
          close(own(sm.probabilities, 'neutral') as number, 0.1);
        }
        const counts = s.labelCounts();
        assert.equal(Object.getPrototypeOf(counts), Object.prototype);
        assert.deepEqual(Object.entries(counts), [[x, 1]]);
        // and what users see survives JSON (the way Node-RED messages often travel)
        const json = JSON.parse(JSON.stringify(s.observe([parsed(1, x, probs(x, 0.9))], 1100).faces[0].smoothed));
        assert.equal(json.label, x);
        close(own(json.probabilities, x) as number, 0.9);
      });

      test(`${JSON.stringify(x)} with ${method}: the stable label changes to and from it after the dwell`, () => {
        const s = new EmotionSmoother({ method, halfLifeMs: 100, windowMs: 200, minDwellMs: 300, margin: 0.1, trackTimeoutMs: 10_000 });
        const at = (t: number, label: string, p: Record<string, number>) => s.observe([parsed(1, label, p)], t).faces[0].smoothed;
        let sm = at(0, 'neutral', probs(x, 0.1));
        for (let t = 50; t <= 1000; t += 50) sm = at(t, 'neutral', probs(x, 0.1));
        assert.equal(sm.label, 'neutral');
        // x takes over only after it has led for minDwellMs
        const labels: Array<[number, string]> = [];
        for (let t = 1050; t <= 2000; t += 50) labels.push([t, (sm = at(t, x, probs(x, 0.9))).label]);
        assert.equal(sm.label, x);
        const first = labels.find(([, l]) => l === x)?.[0] as number;
        assert.ok(first >= 1050 + 300 && sm.since >= 1050 && sm.since < first, `took over at ${first}, since ${sm.since}`);
        assert.ok(labels.every(([t, l]) => l === (t < first ? 'neutral' : x)), 'no flicker');
        close(sm.confidence, method === 'majority' ? 1 : 0.9, 1e-3);
        // and back: frames whose probabilities do not mention x at all (x leaves the window)
        for (let t = 2050; t <= 3000; t += 50) sm = at(t, 'neutral', { neutral: 1 });
        assert.equal(sm.label, 'neutral');
        assert.ok(sm.since > 2000);
      });
    }
  }

  test('two tracks with different prototype-named labels are counted separately', () => {
    const s = new EmotionSmoother({ minDwellMs: 0 });
    const faces = NAMES.map((x, i) => parsed(i + 1, x, probs(x, 0.8)));
    const r = s.observe(faces, 0);
    assert.deepEqual(r.faces.map((f) => f.smoothed.label), [...NAMES]);
    const counts = s.labelCounts();
    assert.deepEqual(Object.keys(counts).sort(), [...NAMES].sort());
    for (const x of NAMES) assert.equal(own(counts, x), 1);
  });

  test('options named like Object.prototype members are ignored, not copied', () => {
    const o = resolveSmoothOptions(JSON.parse('{"__proto__": {"halfLifeMs": 1}, "constructor": 5, "halfLifeMs": 100}'));
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal(Object.hasOwn(o, 'constructor'), false);
    assert.equal(o.halfLifeMs, 100);
  });
});

describe('face.smoothed validation', () => {
  const emotion = { label: 'sadness', confidence: 0.99, probabilities: { sadness: 0.99, happy: 0.01 } };
  test('a malformed smoothed is an error naming the face, its track and the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['garbage', /^face 0 \(track 4\): smoothed is "garbage", expected \{label, confidence, probabilities\}$/],
      [42, /^face 0 \(track 4\): smoothed is 42,/],
      [{ label: null, confidence: NaN }, /^face 0 \(track 4\): smoothed\.label must be a non-empty string, got null$/],
      [{ label: 'sadness', confidence: NaN }, /^face 0 \(track 4\): smoothed\.confidence must be a number in \[0, 1\], got NaN$/],
      [{ label: 'sadness', confidence: '0.9' }, /^face 0 \(track 4\): smoothed\.confidence must be a number in \[0, 1\], got "0.9"$/],
      [{ confidence: 7 }, /^face 0 \(track 4\): smoothed\.label must be a non-empty string, got undefined$/],
      [{ label: 'sadness', confidence: 7 }, /smoothed\.confidence must be a number in \[0, 1\], got 7/],
      [{ label: 'sadness', confidence: 0.9, probabilities: { sadness: 2 } }, /smoothed\.probabilities\.sadness must be a number in \[0, 1\], got 2/],
      [{ label: 'sadness', confidence: 0.9, probabilities: 'x' }, /smoothed\.probabilities must be an object/],
    ];
    for (const [smoothed, re] of cases) {
      for (const requireEmotion of [true, false]) {
        assert.match(String(checkFaces([{ id: 4, emotion, smoothed }], { requireEmotion })), re);
      }
      // also without a raw emotion (alerts do not require one), and on a later face
      assert.match(String(checkFaces([{ id: 4, smoothed }], { requireEmotion: false })), re);
      assert.match(String(checkFaces([{ id: 1, emotion }, { id: 4, emotion, smoothed }])), new RegExp(re.source.replace('^face 0', '^face 1')));
    }
  });

  test('a valid, undefined or null smoothed passes', () => {
    for (const smoothed of [undefined, null, { label: 'happy', confidence: 0.7, probabilities: { happy: 0.7, sadness: 0.3 }, since: 0 }, { label: 'happy', confidence: 0.7 }]) {
      assert.equal(checkFaces([{ id: 1, emotion, smoothed }]), null);
      assert.equal(checkFaces([{ id: 1, smoothed }], { requireEmotion: false }), null);
    }
  });
});

test("frame times of two sources 3 s apart (no ctx.clock): the sweep does not forget the other source's fresh track", () => {
  const s = new EmotionSmoother({ trackTimeoutMs: 2000 });
  const face: EmotionFace[] = [{ id: 1, emotion: { label: 'happy', confidence: 0.9, probabilities: { happy: 0.9, neutral: 0.1 } } }];
  const T = 1_764_000_000_000;
  s.observe(face, T, { sourceId: 'A' });
  s.observe(face, T - 3000, { sourceId: 'B' });
  s.observe(face, T + 33, { sourceId: 'A' });
  s.observe(face, T - 2967, { sourceId: 'B' });
  s.sweep(T + 66); // (B's track, last seen at T - 2967 on its own times, does time out here)
  const lost = s.observe([], T + 100, { sourceId: 'A' }).lost;
  assert.deepEqual(lost.filter((l) => l.sourceId === 'A'), [], "A's track was seen 33 ms ago");
});
