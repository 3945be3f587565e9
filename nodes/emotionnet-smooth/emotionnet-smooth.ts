/**
 * emotionnet-smooth: per-face temporal smoothing with a hysteresis-stable label (thin wrapper
 * around `smoothFaces` in src/smooth). Adds `face.smoothed` to every face, `msg.smoothing`
 * (tracks, labels, lost) and `msg.timing.smooth`; the track-timeout timer runs on real time and
 * is cleared on close.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { Subject, Subscription } from 'rxjs';
import { checkFaces, EmotionFace, resolveSmoothOptions, smoothFaces, SmoothInput, SmoothMethod, SmoothOptions, SmoothOutput } from '../../src/smooth';
import { ConfigError, InputError } from '../lib/errors';
import { onClose, onInput } from '../lib/node';
import { Status } from '../lib/status';
import { rejectInputs } from '../lib/config';
import { translator } from '../lib/i18n';
import messages = require('./locales/en-US/emotionnet-smooth.json');

interface SmoothNodeDef extends NodeDef {
  method: SmoothMethod;
  halfLife: number | string;
  window: number | string;
  minDwell: number | string;
  margin: number | string;
  trackTimeout: number | string;
}

type Msg = NodeMessageInFlow & { frame?: { timestamp?: unknown; sourceId?: unknown }; timestamp?: unknown; timing?: unknown; smoothing?: unknown };

/** Editor config → core options (on a copy; numbers may arrive as strings from old flows). */
function parseConfig(config: SmoothNodeDef): SmoothOptions {
  const num = (v: unknown) => (v === '' || v === undefined || v === null ? undefined : Number(v));
  return resolveSmoothOptions({
    method: config.method || 'ema',
    halfLifeMs: num(config.halfLife),
    windowMs: num(config.window),
    minDwellMs: num(config.minDwell),
    margin: num(config.margin),
    trackTimeoutMs: num(config.trackTimeout),
  });
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-smooth', messages);

  function SmoothNode(this: Node, config: SmoothNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used in closures below
    const node = this;
    const status = new Status(node);

    let options: SmoothOptions;
    try {
      options = parseConfig(config);
    } catch (e) {
      rejectInputs(node, status, new ConfigError(`${t('errors.config')}: ${(e as Error).message}`), t('status.config'));
      return;
    }

    const showStatus = (tracks: number, labels: Record<string, number>) => {
      const top = Object.entries(labels)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, 1)
        .map(([l, n]) => `${l} ${n}`)
        .join(', ');
      const key = tracks === 1 ? 'status.track' : 'status.tracks';
      status.set('count', top ? t(`${key}-labels`, { count: tracks, labels: top }) : t(key, { count: tracks }));
    };

    // The operator emits exactly one output, synchronously, for each input.
    let output: SmoothOutput | null = null;
    let failure: Error | null = null;
    const input$ = new Subject<SmoothInput>();
    const sub: Subscription = input$
      .pipe(smoothFaces<EmotionFace>(options, undefined, { onSweep: (_n, tracks, labels) => showStatus(tracks, labels) }))
      .subscribe({
        next: (out) => {
          output = out;
        },
        error: (e: unknown) => {
          failure = e instanceof Error ? e : new Error(String(e));
          status.set('error', t('status.error'));
        },
      });
    status.set('ready', t('status.ready', { method: options.method as string }));

    onInput(node, (msg: Msg, send, done) => {
      if (failure) return done(failure);
      const problem = checkFaces(msg.payload);
      if (problem) return done(new InputError(problem, 'errors.bad-input'));
      const started = performance.now();
      const timestamp = finite(msg.frame?.timestamp) ? msg.frame.timestamp : finite(msg.timestamp) ? msg.timestamp : undefined;
      const sourceId = typeof msg.frame?.sourceId === 'string' ? msg.frame.sourceId : undefined;
      output = null;
      try {
        input$.next({ faces: msg.payload as EmotionFace[], timestamp, sourceId });
      } finally {
        const out = output as SmoothOutput | null; // set by the subscriber during next()
        output = null;
        if (!out) done(failure ?? new Error(t('errors.no-output')));
        else {
          msg.payload = out.faces;
          msg.smoothing = { tracks: out.tracks, labels: out.labels, lost: out.lost };
          const timing = (msg.timing && typeof msg.timing === 'object' ? msg.timing : {}) as Record<string, number>;
          timing.smooth = Math.round((performance.now() - started) * 1000) / 1000;
          msg.timing = timing;
          send(msg);
          done();
          showStatus(out.tracks, out.labels);
        }
      }
    });

    onClose(node, () => {
      sub.unsubscribe();
      input$.complete();
      status.clear();
    });
  }

  RED.nodes.registerType('emotionnet-smooth', SmoothNode);
};
