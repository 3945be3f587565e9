/**
 * emotionnet-video: video source node (thin wrapper around src/video). Decodes a file, a stream
 * URL, a V4L2 camera or the default sample with ffmpeg and sends one message per frame on
 * output 1; output 2 carries events (start, eof, retry, stop, stats).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { Frame } from '../../src/frame';
import { MAX_TIMER_DELAY_MS } from '../../src/timers';
import { MAX_HIGH_WATER } from '../../src/overload';
import {
  createVideoSource,
  describeSource,
  parseSource,
  SourceType,
  VideoSource,
  VideoSourceError,
  VideoSourceStats,
} from '../../src/video';
import { translator } from '../lib/i18n';
import { ConfigError, InputError, SourceError } from '../lib/errors';
import { nodeLogger, onClose, onInput, Send } from '../lib/node';
import { Status } from '../lib/status';
import { rejectInputs } from '../lib/config';
import messages = require('./locales/en-US/emotionnet-video.json');

interface VideoNodeDef extends NodeDef {
  sourceType: SourceType;
  source: string;
  fps: string | number;
  width: string | number;
  height: string | number;
  format: 'rgb24' | 'gray' | 'jpeg';
  quality: string | number;
  loop: boolean;
  pacing: 'realtime' | 'fast';
  inputArgs: string;
  autostart: boolean;
  ffmpegPath: string;
  watchdog: string | number;
  highWater: string | number;
  statsInterval: string | number;
  topic: string;
}

interface Credentials {
  username?: string;
  password?: string;
}

const COMMANDS = ['start', 'stop', 'restart', 'stats'] as const;
type Command = (typeof COMMANDS)[number];

const num = (v: unknown, def: number) => (v === undefined || v === null || v === '' ? def : Number(v));
const asCommand = (v: unknown): Command | null => {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : '';
  return (COMMANDS as readonly string[]).includes(s) ? (s as Command) : null;
};

/** What an input message asks for: a command, and optionally a new source. */
function parseControl(msg: { topic?: unknown; payload?: unknown }): { command: Command; source?: string; type?: SourceType } | null {
  const p = msg.payload;
  const byTopic = asCommand(msg.topic);
  const byPayload = asCommand(p);
  if (byTopic) {
    const src = typeof p === 'string' && p.trim() && !byPayload ? p.trim() : undefined;
    return { command: byTopic, source: byTopic === 'start' || byTopic === 'restart' ? src : undefined };
  }
  if (byPayload) return { command: byPayload };
  if (p === true) return { command: 'start' };
  if (p === false) return { command: 'stop' };
  if (typeof p === 'string' && p.trim()) return { command: 'start', source: p.trim() };
  if (p && typeof p === 'object' && !Buffer.isBuffer(p) && typeof (p as { source?: unknown }).source === 'string') {
    const o = p as { source: string; type?: SourceType };
    return { command: 'start', source: o.source, type: o.type };
  }
  return null;
}

export = function register(RED: NodeAPI): void {
  const t = translator(RED, 'emotionnet-video', messages);

  function VideoNode(this: Node & { credentials?: Credentials }, config: VideoNodeDef) {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used inside callbacks
    const node = this;
    const status = new Status(node);
    const creds = node.credentials ?? {};

    // Above MAX_HIGH_WATER (1000 was allowed once) the face and classify nodes' queue fills before
    // the source pauses, and they refuse frames: pause at the limit instead.
    let highWater = num(config.highWater, 8);
    if (highWater > MAX_HIGH_WATER) {
      node.warn(t('warn.highWater', { value: highWater, max: MAX_HIGH_WATER }));
      highWater = MAX_HIGH_WATER;
    }
    let source: VideoSource;
    try {
      source = createVideoSource({
        id: node.id,
        source: config.sourceType === 'default' ? 'default' : config.source,
        type: config.sourceType || 'auto',
        format: config.format || 'rgb24',
        fps: num(config.fps, 10),
        width: num(config.width, 640),
        height: num(config.height, 0),
        // Only JPEG output uses (and the editor only shows and checks) the quality.
        jpegQuality: config.format === 'jpeg' ? num(config.quality, 80) : undefined,
        loop: !!config.loop,
        pacing: config.pacing === 'fast' ? 'fast' : 'realtime',
        inputArgs: config.inputArgs || '',
        ffmpegPath: config.ffmpegPath || undefined,
        watchdogMs: num(config.watchdog, 10) * 1000,
        highWaterMark: highWater,
        username: creds.username || undefined,
        password: creds.password || undefined,
        logger: nodeLogger(node),
      });
    } catch (e) {
      rejectInputs(node, status, new ConfigError(t('errors.config', { error: (e as Error).message })), t('status.config'));
      return;
    }

    // Computed once per source (not per frame); a source switched by message updates it.
    let topic = config.topic || node.name || describeSource(source.source);
    const refreshTopic = () => (topic = config.topic || node.name || describeSource(source.source));
    const toNodeError = (e: unknown): Error => {
      if (e instanceof VideoSourceError) return new SourceError(t('errors.source', { error: e.message }), `short.${e.key}`);
      return e instanceof Error ? e : new Error(String(e));
    };
    const event = (name: string, payload: unknown): NodeMessage => ({ topic: name, payload, source: describeSource(source.source) } as NodeMessage);
    const sendEvent = (msg: NodeMessage) => node.send([null, msg]);
    const statsPayload = (s: VideoSourceStats) => ({ ...s, ffmpeg: s.ffmpeg ? { origin: s.ffmpeg.origin, version: s.ffmpeg.version } : null });

    // Errors of a start asked for by a message go to that message's done(err); the rest
    // (autostart, background retries) are reported here so Catch nodes still see them.
    let msgStarts = 0;
    // "stop" messages so far: a restart whose stop they overtook does not start again.
    let stopMsgs = 0;
    let lastReported = { key: '', at: 0 };

    const subs = [
      source.frames$.subscribe((frame: Frame) => {
        const msg: NodeMessage & { frame: Frame; timing?: Record<string, number> } = {
          topic,
          payload: frame.format === 'jpeg' ? frame.data : frame,
          frame,
        };
        if (decodeMs !== null) msg.timing = { decode: decodeMs };
        node.send([msg, null]);
      }),
      source.errors$.subscribe((e) => {
        const now = Date.now();
        // A start asked for by a message reports through that message's done(err); it still
        // counts as reported, so the first background retry does not report it again.
        if (msgStarts > 0) {
          lastReported = { key: e.key, at: now };
          return;
        }
        if (e.key === lastReported.key && now - lastReported.at < 60_000) return node.debug(e.message);
        lastReported = { key: e.key, at: now };
        node.error(toNodeError(e).message, event('error', { key: e.key, message: e.message, restarts: source.stats.restarts }));
      }),
      source.status$.subscribe((s) => {
        switch (s.state) {
          case 'starting':
            return status.set('busy', t('status.starting'));
          case 'running':
            return showRunning();
          case 'retrying': {
            const key = s.error?.key ?? 'exited';
            sendEvent(event('retry', { error: s.error?.message, key, retryInMs: s.retryInMs, restarts: s.restarts }));
            return status.set('failed', `${t(`short.${key}`)}, ${t('status.retry', { s: Math.ceil((s.retryInMs ?? 0) / 1000) })}`);
          }
          case 'failed':
            return status.set('failed', t(`short.${s.error?.key ?? 'exited'}`));
          case 'ended':
            return status.set('stopped', t('status.ended'));
          case 'stopped':
            return status.set('stopped', t('status.stopped'));
          default:
            return undefined;
        }
      }),
      source.info$.subscribe(() => {
        // (The source itself logs each start: description, input stream, output size.)
        sendEvent(event('start', statsPayload(source.stats)));
        warnIfTestPattern();
      }),
      source.eof$.subscribe((ev) => {
        node.log(t('log.eof', { frames: ev.frames }));
        sendEvent(event('eof', ev));
      }),
    ];

    // The default sample without its demo clip plays ffmpeg's test pattern (no faces): say so,
    // once per deploy in the log and for as long as it plays in the status.
    const missingSample = (): string | undefined => source.input?.missingSample;
    let warnedTestPattern = false;
    function warnIfTestPattern(): void {
      const file = missingSample();
      if (file === undefined || warnedTestPattern) return;
      warnedTestPattern = true;
      node.warn(t('warn.testPattern', { path: file }));
    }

    // msg.timing.decode: ffmpeg's CPU ms per frame, averaged over the last second (Linux /proc).
    let decodeMs: number | null = null;
    function showRunning(): void {
      const s = source.stats;
      decodeMs = s.decodeMsPerFrame;
      if (s.state !== 'running') return;
      let text = s.paused ? t('status.paused') : t('status.running', { fps: s.fps.toFixed(1), size: `${s.width}x${s.height}` });
      if (missingSample() !== undefined) text = `${text} ${t('status.testPattern')}`;
      status.set('running', s.restarts ? `${text} ↻${s.restarts}` : text);
    }
    const statusTimer = setInterval(showRunning, 1000);
    const statsEvery = num(config.statsInterval, 0);
    // At most 24.8 days (the editor allows a day): Node runs a longer interval every 1 ms, a flood of stats.
    const statsTimer = statsEvery > 0 ? setInterval(() => sendEvent(event('stats', statsPayload(source.stats))), Math.min(statsEvery * 1000, MAX_TIMER_DELAY_MS)) : null;

    const startFromMsg = async (): Promise<void> => {
      msgStarts++;
      try {
        await source.start();
      } finally {
        msgStarts--;
      }
    };

    onInput(node, async (msg, _send: Send, done) => {
      const ctl = parseControl(msg as { topic?: unknown; payload?: unknown });
      if (!ctl) return done(new InputError(t('errors.bad-command'), 'errors.bad-command'));
      try {
        switch (ctl.command) {
          case 'stats':
            sendEvent(event('stats', statsPayload(source.stats)));
            break;
          case 'stop':
            stopMsgs++;
            await source.stop();
            sendEvent(event('stop', statsPayload(source.stats)));
            break;
          case 'restart':
          case 'start':
            if (ctl.source !== undefined) {
              let kind: string;
              try {
                kind = parseSource(ctl.source, ctl.type ?? 'auto').kind;
              } catch (e) {
                return done(new InputError(t('errors.bad-source', { error: (e as Error).message }), 'errors.bad-source'));
              }
              // An ffmpeg filter graph runs filters that read and write files (movie=, metadata
              // file=, psnr stats_file= …): only the editor may set one, never a message.
              if (kind === 'lavfi') return done(new InputError(t('errors.bad-source', { error: t('errors.lavfi-by-message') }), 'errors.bad-source'));
              msgStarts++;
              try {
                const switching = source.setSource(ctl.source, ctl.type ?? 'auto');
                refreshTopic();
                await switching;
              } finally {
                msgStarts--;
              }
            } else if (ctl.command === 'restart') {
              const stops = stopMsgs;
              await source.stop();
              // A "stop" while the old ffmpeg was dying wins, as it does over a pending start.
              if (stopMsgs !== stops) throw new VideoSourceError('stopped', 'video source stopped before the first frame');
            }
            await startFromMsg();
            break;
        }
        done();
      } catch (e) {
        done(toNodeError(e));
      }
    });

    onClose(node, async () => {
      clearInterval(statusTimer);
      if (statsTimer) clearInterval(statsTimer);
      subs.forEach((s) => s.unsubscribe());
      try {
        await source.dispose();
      } finally {
        status.clear();
      }
    });

    status.set('stopped', t('status.stopped'));
    if (config.autostart !== false) source.start().catch(() => undefined); // reported through errors$
  }

  RED.nodes.registerType('emotionnet-video', VideoNode as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
