/**
 * VideoSource: one ffmpeg child per source, decoded frames as an RxJS stream, and the
 * supervision a camera on a gateway needs — restart with exponential backoff (capped at 30 s),
 * a no-frame watchdog, resume-where-it-died for files, flow control for lossless file
 * processing, and a kill that always ends in SIGKILL.
 *
 * `frames$` is hot and survives restarts (it completes on {@link VideoSource.dispose}); failures
 * are reported on `errors$` and through `status$`, never by erroring `frames$`.
 */
import { BehaviorSubject, Observable, Subject, Subscription, interval, map, startWith, takeUntil } from 'rxjs';
import type { Frame, PixelFormat } from '../frame';
import { frameByteLength } from '../frame';
import { Logger, silentLogger } from '../log';
import { notAnObject } from '../options';
import { LongTimeout, longTimeout } from '../timers';
import { FlowControl } from '../overload';
import { buildFfmpegArgs } from '../ffmpeg/args';
import { FfmpegInfo, findFfmpeg } from '../ffmpeg/discover';
import { FfmpegChild, killChild, readChildCpuMs, spawnFfmpeg } from '../ffmpeg/process';
import { JpegFrameSplitter, RawFrameSplitter, readRestSync } from '../ffmpeg/frame-reader';
import { StderrParser, StreamInfo, classifyFfmpegError, redactHeaders, redactUrl, scrubSecrets } from '../ffmpeg/stderr';
import { VideoSourceError } from './errors';
import { SourceSpec, SourceType, describeSource, inlineUserinfo, parseSource, prepareInput, PreparedInput, ResolvedInput } from './input';

export type Pacing = 'realtime' | 'fast';

export interface VideoSourceOptions {
  /** `default`, a file path, a URL, `/dev/videoN` or `lavfi:<graph>`. @default 'default' */
  source?: string;
  /** How to read `source`. @default 'auto' */
  type?: SourceType;
  /** Source id stamped on every frame (Node-RED: the node id); keys {@link FlowControl}. @default random */
  id?: string;
  /** ffmpeg binary to prefer (see findFfmpeg). */
  ffmpegPath?: string;
  /** @default 'rgb24' */
  format?: PixelFormat;
  /** Frame-rate cap (frames/s); 0 = none. @default 0 */
  fps?: number;
  /** Output size (0 = source size / keep aspect). @default 0 */
  width?: number;
  height?: number;
  /** JPEG quality 1..100 for `format: 'jpeg'`. @default 80 */
  jpegQuality?: number;
  /** Loop files. @default false */
  loop?: boolean;
  /** Files: `realtime` (-re) or `fast` (as fast as the pipeline takes them, lossless). @default 'realtime' */
  pacing?: Pacing;
  /** Extra ffmpeg input arguments (string split like a shell, or an array). */
  inputArgs?: string | readonly string[];
  /**
   * Camera credentials, inserted into the URL at spawn time only, and only while the source is
   * a URL on the configured `source`'s scheme, host and port (not after `setSource` to another
   * address). The password is scrubbed from logs and errors.
   */
  username?: string;
  password?: string;
  /** Decoder threads (0 = ffmpeg's choice). @default 0 */
  threads?: number;
  /** First restart delay; doubles per consecutive failure. @default 1000 */
  restartDelayMs?: number;
  /** Restart delay cap. @default 30000 */
  maxRestartDelayMs?: number;
  /** Give up after this many restarts in a row without a stable run. @default Infinity */
  maxRestarts?: number;
  /**
   * Restart when no frame arrived for this long after the first one; 0 = off (no stall check;
   * `startTimeoutMs` still applies to the first frame). With an `fps` cap a value above 0 is
   * raised to at least three frame intervals of the cap. @default 10000
   */
  watchdogMs?: number;
  /** Time allowed for the first frame after a spawn (RTSP handshakes are slow). @default 20000 */
  startTimeoutMs?: number;
  /**
   * `fast` pacing: pause reading when the stages together hold more than this many of its frames
   * (at most `MAX_HIGH_WATER`, 8, into stages of the default capacity). @default 8
   */
  highWaterMark?: number;
  /** … and resume at or below this. @default 2 */
  lowWaterMark?: number;
  /** Grace between SIGTERM and SIGKILL. @default 2000 */
  killGraceMs?: number;
  /** Add ffmpeg `-benchmark` (its CPU time is reported in the `eof$` event). @default false */
  benchmark?: boolean;
  logger?: Logger;
}

export type VideoSourceState = 'idle' | 'starting' | 'running' | 'retrying' | 'stopping' | 'stopped' | 'ended' | 'failed';

export interface VideoSourceStatus {
  state: VideoSourceState;
  /**
   * Restarts of the current source (automatic retries and {@link VideoSource.restart}); reset
   * when {@link VideoSource.setSource} switches to a different source.
   */
  restarts: number;
  /** When `retrying`: ms until the next attempt. */
  retryInMs?: number;
  /** The error that caused `failed`/`retrying`. */
  error?: VideoSourceError;
}

export interface VideoSourceStats {
  state: VideoSourceState;
  source: string;
  frames: number;
  /** Frames of the current ffmpeg run. */
  runFrames: number;
  /** Measured output rate over the last ~2 s. */
  fps: number;
  width: number;
  height: number;
  format: PixelFormat;
  restarts: number;
  paused: boolean;
  pid: number | null;
  /** CPU time of the current ffmpeg child (Linux /proc), ms. */
  ffmpegCpuMs: number | null;
  /** ffmpeg CPU ms per frame over the last stats interval (≥ 1 s; Linux), null until known. */
  decodeMsPerFrame: number | null;
  input: StreamInfo;
  ffmpeg: { path: string; origin: string; version: string } | null;
  lastError: string | null;
}

export interface EofEvent {
  /** Frames of this run (the whole file when it was not resumed). */
  frames: number;
  /** All frames since start. */
  totalFrames: number;
  /** Wall time of the run, ms. */
  elapsedMs: number;
  /** ffmpeg's CPU time (needs `benchmark: true`), ms. */
  ffmpegCpuMs: number | null;
}

interface Waiter {
  resolve: (info: StreamInfo) => void;
  reject: (err: VideoSourceError) => void;
}

interface Run {
  gen: number;
  child: FfmpegChild;
  parser: StderrParser;
  input: PreparedInput;
  frames: number;
  startedAt: number;
  firstFrameAt: number;
  /** Set when the watchdog killed this run: what it waited for, with the timeout it used. */
  stalled: string | null;
  seekMs: number;
  /** ms per output frame when known (for pts and resume). */
  frameMs: number | null;
  /** Delivers held stdout once stderr has told the frame size (called again at exit). */
  flush?: () => void;
  /**
   * Paced by {@link FlowControl} (`fast` pacing of a file): frames go out one per turn of the
   * event loop from {@link Run.backlog}, and stdout is not read while it holds any.
   */
  paced: boolean;
  /** Paced runs: frames parsed from stdout and not yet emitted (at most one read's worth). */
  backlog: Array<{ data: Buffer; width: number; height: number }>;
  /** Paced runs: the next emit is scheduled. */
  emitting: boolean;
  /** Paced runs: ffmpeg exited while frames were still in the backlog; called once they are out. */
  afterBacklog: (() => void) | null;
}

let nextId = 1;

/** How long frames of a known size wait for ffmpeg's stream header before going out without pts. */
const HEADER_WAIT_MS = 1000;

/**
 * How long {@link VideoSource} waits, spinning, for ffmpeg to refill the pipe while it reads the
 * rest of a raw frame synchronously (ffmpeg, blocked on the full pipe, writes again within
 * microseconds of a read).
 */
const DRAIN_SPIN_NS = 500_000n;

/**
 * Decodes a video source with ffmpeg into {@link Frame}s.
 *
 * @example
 * ```ts
 * const src = createVideoSource({ source: 'rtsp://cam/stream', fps: 5, width: 640 });
 * src.frames$.subscribe((f) => console.log(f.seq, f.width, f.height));
 * await src.start();          // resolves on the first frame, rejects with a VideoSourceError
 * …
 * await src.dispose();        // kills ffmpeg (SIGTERM, then SIGKILL), completes the streams
 * ```
 */
export class VideoSource {
  readonly id: string;
  readonly frames$: Observable<Frame>;
  readonly status$: Observable<VideoSourceStatus>;
  readonly errors$: Observable<VideoSourceError>;
  readonly info$: Observable<StreamInfo>;
  readonly eof$: Observable<EofEvent>;

  #opts: Required<Omit<VideoSourceOptions, 'username' | 'password' | 'ffmpegPath' | 'inputArgs' | 'id' | 'source' | 'type'>> &
    Pick<VideoSourceOptions, 'username' | 'password' | 'ffmpegPath' | 'inputArgs'>;
  #spec: SourceSpec;
  #log: Logger;
  #frames = new Subject<Frame>();
  #status: BehaviorSubject<VideoSourceStatus>;
  #errors = new Subject<VideoSourceError>();
  #info = new Subject<StreamInfo>();
  #eof = new Subject<EofEvent>();
  #disposed$ = new Subject<void>();
  /** Set when {@link dispose} begins: from then on nothing is started. */
  #disposed = false;
  #disposing: Promise<void> | null = null;
  /** Children being killed by a stop: a later stop (or dispose) waits for them too. */
  #dying = new Set<Promise<void>>();
  /** Counts stop() calls: a switch or restart whose stop was overtaken by another one does not start. */
  #stops = 0;

  #gen = 0;
  #run: Run | null = null;
  #ffmpeg: FfmpegInfo | null = null;
  #waiters: Waiter[] = [];
  #seq = 0;
  #total = 0;
  #restarts = 0;
  #attempt = 0;
  #retryTimer: LongTimeout | null = null;
  #watchdog: LongTimeout | null = null;
  #watchdogFor: Run | null = null;
  #watchdogMs = 0;
  #paused = false;
  #pressureSub: Subscription | null = null;
  #fpsTimes: number[] = [];
  #lastInfo: StreamInfo = {};
  #lastError: VideoSourceError | null = null;
  #input: ResolvedInput | null = null;
  #outW = 0;
  #outH = 0;
  /** File position to resume from after a crash (ms), when known. */
  #resumeMs = 0;
  #lastPts = -1;
  #cpuSample: { pid: number; cpuMs: number; frames: number; at: number } | null = null;
  #decodeMs: number | null = null;
  /** The MJPEG timestamp hint was logged (once per source). */
  #mjpegHinted = false;
  /** `scheme://host:port` of the configured URL: the only place the credentials are sent. */
  #credentialsFor: string | null = null;
  /** The password as typed and as it appears in URLs: scrubbed from logs and errors. */
  #secrets: string[] = [];
  /** The configured password (kept to rebuild {@link #secrets} when the source changes). */
  #password = '';

  constructor(options: VideoSourceOptions = {}) {
    // A bare string (`createVideoSource('rtsp://…')`) read no option and played the default sample.
    const notObject = notAnObject(options);
    if (notObject) throw new VideoSourceError('bad-source', `video source options must be an object, e.g. { source: 'rtsp://…' }, got ${notObject}`);
    const o = options;
    this.id = o.id || `video-${process.pid}-${nextId++}`;
    this.#spec = parseSource(o.source ?? 'default', o.type ?? 'auto');
    // Credentials belong to the configured camera: a URL set later (setSource, a message) to
    // another host never receives them (it may carry its own inline credentials).
    if (this.#spec.kind === 'url' && (o.username || o.password)) this.#credentialsFor = urlHost(this.#spec.target);
    this.#password = o.password ?? '';
    this.#secrets = secretsOf(this.#spec, this.#password);
    const format = o.format ?? 'rgb24';
    if (format !== 'rgb24' && format !== 'gray' && format !== 'jpeg') {
      throw new VideoSourceError('bad-source', `format must be rgb24, gray or jpeg, got "${String(format)}"`);
    }
    if (o.pacing !== undefined && o.pacing !== 'realtime' && o.pacing !== 'fast') {
      throw new VideoSourceError('bad-source', `pacing must be realtime or fast, got ${JSON.stringify(o.pacing) ?? String(o.pacing)}`);
    }
    if (o.loop !== undefined && typeof o.loop !== 'boolean') throw new VideoSourceError('bad-source', `loop must be true or false, got ${JSON.stringify(o.loop) ?? String(o.loop)}`);
    const nonNeg = (name: string, v: number | undefined, dflt: number): number => {
      const x = v ?? dflt;
      if (typeof x !== 'number' || !(x >= 0)) throw new VideoSourceError('bad-source', `${name} must be a number >= 0, got ${String(v)}`);
      return x;
    };
    this.#opts = {
      format,
      fps: nonNeg('fps', o.fps, 0),
      width: Math.round(nonNeg('width', o.width, 0)),
      height: Math.round(nonNeg('height', o.height, 0)),
      jpegQuality: nonNeg('jpegQuality', o.jpegQuality, 80),
      loop: o.loop ?? false,
      pacing: o.pacing === 'fast' ? 'fast' : 'realtime',
      threads: nonNeg('threads', o.threads, 0),
      restartDelayMs: nonNeg('restartDelayMs', o.restartDelayMs, 1000),
      maxRestartDelayMs: nonNeg('maxRestartDelayMs', o.maxRestartDelayMs, 30_000),
      maxRestarts: nonNeg('maxRestarts', o.maxRestarts, Infinity),
      watchdogMs: nonNeg('watchdogMs', o.watchdogMs, 10_000),
      startTimeoutMs: nonNeg('startTimeoutMs', o.startTimeoutMs, 20_000),
      highWaterMark: nonNeg('highWaterMark', o.highWaterMark, 8),
      lowWaterMark: nonNeg('lowWaterMark', o.lowWaterMark, 2),
      killGraceMs: nonNeg('killGraceMs', o.killGraceMs, 2000),
      benchmark: o.benchmark ?? false,
      logger: o.logger ?? silentLogger,
      username: o.username,
      password: o.password,
      ffmpegPath: o.ffmpegPath,
      inputArgs: o.inputArgs,
    };
    this.#log = this.#opts.logger;
    this.#status = new BehaviorSubject<VideoSourceStatus>({ state: 'idle', restarts: 0 });
    this.frames$ = this.#frames.asObservable();
    this.status$ = this.#status.asObservable();
    this.errors$ = this.#errors.asObservable();
    this.info$ = this.#info.asObservable();
    this.eof$ = this.#eof.asObservable();
  }

  /** Current state. */
  get state(): VideoSourceState {
    return this.#status.value.state;
  }

  /** The source being decoded. */
  get source(): SourceSpec {
    return { ...this.#spec };
  }

  /**
   * What the current (or last) run decodes, as resolved at its launch: for `default`, the demo
   * clip or the synthetic pattern (`resolvedKind: 'lavfi'`, `missingSample` set). Null before the
   * first launch and after {@link setSource}. Never holds credentials.
   */
  get input(): ResolvedInput | null {
    return this.#input ? { ...this.#input } : null;
  }

  /** pid of the running ffmpeg child, if any. */
  get pid(): number | null {
    return this.#run?.child.pid ?? null;
  }

  /** A snapshot of counters and stream info. */
  get stats(): VideoSourceStats {
    const now = Date.now();
    const pid = this.pid;
    const cpu = readChildCpuMs(pid ?? undefined);
    const last = this.#cpuSample;
    if (pid && cpu !== null) {
      if (!last || last.pid !== pid || cpu < last.cpuMs) this.#cpuSample = { pid, cpuMs: cpu, frames: this.#total, at: now };
      else if (now - last.at >= 1000 && this.#total > last.frames) {
        this.#decodeMs = (cpu - last.cpuMs) / (this.#total - last.frames);
        this.#cpuSample = { pid, cpuMs: cpu, frames: this.#total, at: now };
      }
    }
    const t = this.#fpsTimes;
    // Fresh while the last frame is younger than 2 s, or than 2.5 of the longest gap seen
    // recently: a 0.5 fps camera, or frames that arrive in bursts while a slow consumer blocks
    // the event loop, would otherwise read 0 fps while running.
    let gap = 0;
    for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i] - t[i - 1]);
    const fresh = t.length > 1 && now - t[t.length - 1] < Math.max(2000, 2.5 * gap);
    return {
      state: this.state,
      source: describeSource(this.#spec),
      frames: this.#total,
      runFrames: this.#run?.frames ?? 0,
      // Over at least a second: frames that arrive together (a backlog after a start) would read
      // as a rate the source never had.
      fps: fresh ? Math.round(((t.length - 1) * 1000 * 10) / Math.max(t[t.length - 1] - t[0], 1000)) / 10 : 0,
      width: this.#outW,
      height: this.#outH,
      format: this.#opts.format,
      restarts: this.#restarts,
      paused: this.#paused,
      pid: this.pid,
      ffmpegCpuMs: cpu,
      decodeMsPerFrame: this.#decodeMs === null ? null : Math.round(this.#decodeMs * 1000) / 1000,
      input: { ...this.#lastInfo },
      ffmpeg: this.#ffmpeg ? { path: this.#ffmpeg.path, origin: this.#ffmpeg.origin, version: this.#ffmpeg.version } : null,
      lastError: this.#lastError?.message ?? null,
    };
  }

  /** Emits {@link stats} every `ms` until disposed. */
  stats$(ms = 1000): Observable<VideoSourceStats> {
    return interval(ms).pipe(
      startWith(0),
      map(() => this.stats),
      takeUntil(this.#disposed$),
    );
  }

  /**
   * Starts decoding (no-op when already running). Resolves with the stream info at the first
   * frame; rejects with a {@link VideoSourceError} if ffmpeg fails before that. Live sources
   * keep retrying in the background after a rejection; files do not.
   */
  start(): Promise<StreamInfo> {
    if (this.#disposed) return Promise.reject(new VideoSourceError('stopped', 'video source is disposed'));
    const st = this.state;
    if (st === 'running') return Promise.resolve({ ...this.#lastInfo });
    const p = new Promise<StreamInfo>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (st === 'starting') return p;
    this.#clearRetry();
    this.#attempt = 0;
    this.#resumeMs = 0;
    this.#lastPts = -1;
    void this.#launch();
    return p;
  }

  /** Stops decoding and waits until ffmpeg is gone. Pending `start()` calls reject with `stopped`. */
  async stop(): Promise<void> {
    const gen = ++this.#gen;
    this.#stops++;
    this.#clearRetry();
    this.#clearWatchdog();
    this.#unwatchPressure();
    const run = this.#run;
    this.#run = null;
    this.#rejectWaiters(new VideoSourceError('stopped', 'video source stopped before the first frame'));
    if (run) {
      this.#setStatus('stopping');
      const kill = killChild(run.child, this.#opts.killGraceMs);
      this.#dying.add(kill);
      void kill.then(() => this.#dying.delete(kill));
    }
    // Also a child an earlier stop() is still killing: stopped means no child left.
    if (this.#dying.size > 0) await Promise.all(this.#dying);
    // A start() while the old child was dying owns the state now.
    if (!this.#disposed && gen === this.#gen) this.#setStatus('stopped');
  }

  /**
   * Stops, then starts again from the beginning. Rejects with `stopped` (as a pending start()
   * does) when another stop() comes while the old child is still being killed.
   */
  async restart(): Promise<StreamInfo> {
    await this.#stopThen();
    this.#restarts++;
    return this.start();
  }

  /**
   * Switches to another source (stops the current one; starts the new one if it was active).
   * A different source starts with its own counters: `restarts` and `lastError` are reset.
   * Like {@link restart}, rejects with `stopped` when another stop() overtakes the switch.
   * @throws {@link VideoSourceError} `bad-source` (synchronously checked) for an unusable string.
   */
  async setSource(source: string, type: SourceType = 'auto'): Promise<StreamInfo | null> {
    const spec = parseSource(source, type);
    const wasActive = !['idle', 'stopped', 'failed', 'ended'].includes(this.state);
    const changed = spec.kind !== this.#spec.kind || spec.target !== this.#spec.target;
    this.#spec = spec;
    this.#secrets = secretsOf(spec, this.#password);
    this.#lastInfo = {};
    this.#input = null;
    if (changed) {
      this.#restarts = 0;
      this.#lastError = null;
      this.#mjpegHinted = false;
    }
    if (!wasActive) {
      await this.stop();
      return null;
    }
    await this.#stopThen();
    return this.start();
  }

  /** Stops and completes every stream; the source cannot be started again. */
  dispose(): Promise<void> {
    return (this.#disposing ??= this.#dispose());
  }

  async #dispose(): Promise<void> {
    // First: a start() while the child is being killed (a message to a closing node) must not
    // spawn a new one.
    this.#disposed = true;
    await this.stop();
    this.#setStatus('stopped');
    this.#disposed$.next();
    this.#disposed$.complete();
    this.#frames.complete();
    this.#status.complete();
    this.#errors.complete();
    this.#info.complete();
    this.#eof.complete();
    FlowControl.release(this.id);
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * stop() for a restart or a switch: rejects with `stopped`, as a pending start() does, when
   * another stop() came while this one waited for the old child (a "stop" message must win).
   */
  async #stopThen(): Promise<void> {
    const stopping = this.stop();
    const stops = this.#stops;
    await stopping;
    if (this.#stops !== stops) throw new VideoSourceError('stopped', 'video source stopped before the first frame');
  }

  #setStatus(state: VideoSourceState, extra: Partial<VideoSourceStatus> = {}): void {
    if (this.#status.closed) return;
    this.#status.next({ state, restarts: this.#restarts, ...extra });
  }

  #rejectWaiters(err: VideoSourceError): void {
    const ws = this.#waiters.splice(0);
    for (const w of ws) w.reject(err);
  }

  #clearRetry(): void {
    this.#retryTimer?.cancel();
    this.#retryTimer = null;
  }

  #clearWatchdog(): void {
    this.#watchdog?.cancel();
    this.#watchdog = null;
    this.#watchdogFor = null;
  }

  #armWatchdog(run: Run): void {
    if (this.#paused) return this.#clearWatchdog();
    const first = run.frames === 0;
    let ms = first ? this.#opts.startTimeoutMs : this.#opts.watchdogMs;
    // At least three frame intervals of the fps cap; 0 stays 0 (off).
    if (!first && ms > 0 && this.#opts.fps > 0) ms = Math.max(ms, Math.ceil(3000 / this.#opts.fps));
    // Re-armed on every frame: refresh the same timer instead of allocating a new one.
    if (this.#watchdog && this.#watchdogFor === run && this.#watchdogMs === ms) {
      this.#watchdog.refresh();
      return;
    }
    this.#clearWatchdog();
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.#watchdogFor = run;
    this.#watchdogMs = ms;
    // Longer than 24.8 days (2^31 - 1 ms) in steps: a plain timer killed ffmpeg after 1 ms.
    this.#watchdog = longTimeout(() => {
      if (run.gen !== this.#gen) return;
      run.stalled = run.frames === 0 ? `no first frame within ${ms} ms` : `no frame for ${ms} ms`;
      this.#log.warn(`${describeSource(this.#spec)}: ${run.stalled}; killing ffmpeg (pid ${run.child.pid})`);
      void killChild(run.child, this.#opts.killGraceMs);
    }, ms, true);
  }

  /** Fails the current attempt: reports, rejects waiters, and schedules a retry if allowed. */
  #fail(err: VideoSourceError, retry: boolean): void {
    this.#lastError = err;
    this.#log.debug(`${describeSource(this.#spec)}: ${err.message}`);
    if (!this.#errors.closed) this.#errors.next(err);
    this.#rejectWaiters(err);
    if (retry && !this.#disposed && this.#attempt < this.#opts.maxRestarts) {
      const delay = Math.min(this.#opts.maxRestartDelayMs, this.#opts.restartDelayMs * 2 ** this.#attempt);
      this.#attempt++;
      this.#setStatus('retrying', { retryInMs: delay, error: err });
      const gen = this.#gen;
      this.#retryTimer = longTimeout(() => {
        this.#retryTimer = null;
        if (gen !== this.#gen || this.#disposed) return;
        this.#restarts++;
        void this.#launch();
      }, delay);
    } else {
      this.#setStatus('failed', { error: err });
    }
  }

  async #launch(): Promise<void> {
    const gen = ++this.#gen;
    this.#setStatus('starting');
    const spec = this.#spec;
    try {
      this.#ffmpeg = await findFfmpeg({ path: this.#opts.ffmpegPath, logger: this.#log });
    } catch (e) {
      if (gen === this.#gen) this.#fail(new VideoSourceError('no-ffmpeg', (e as Error).message), false);
      return;
    }
    if (gen !== this.#gen) return;
    let input: PreparedInput;
    try {
      input = await prepareInput(spec, {
        loop: this.#opts.loop,
        pacing: this.#opts.pacing,
        extraArgs: this.#opts.inputArgs,
        ...(spec.kind === 'url' && this.#credentialsFor !== null && urlHost(spec.target) === this.#credentialsFor
          ? { username: this.#opts.username, password: this.#opts.password }
          : {}),
        seekMs: this.#resumeMs,
      });
    } catch (e) {
      if (gen !== this.#gen) return;
      const err = e instanceof VideoSourceError ? e : new VideoSourceError('bad-source', (e as Error).message);
      // A camera may be plugged in later; a file path does not fix itself.
      this.#fail(err, spec.kind === 'device' && err.key === 'no-device');
      return;
    }
    if (gen !== this.#gen) return;
    const { args: _args, ...resolved } = input; // the args may hold credentials
    this.#input = resolved;
    const args = buildFfmpegArgs({
      input: input.args,
      output: {
        format: this.#opts.format,
        fps: this.#opts.fps,
        width: this.#opts.width,
        height: this.#opts.height,
        jpegQuality: this.#opts.jpegQuality,
        threads: this.#opts.threads,
      },
      release: this.#ffmpeg.release,
      benchmark: this.#opts.benchmark,
    });
    this.#log.debug(`spawn ${this.#ffmpeg.path} ${scrubSecrets(redactUrl(args.map(redactHeaders).join(' ')), this.#secrets)}`);
    let child: FfmpegChild;
    try {
      child = spawnFfmpeg(this.#ffmpeg.path, args);
    } catch (e) {
      this.#fail(new VideoSourceError('spawn-failed', `could not start ffmpeg: ${(e as Error).message}`), input.live);
      return;
    }
    const run: Run = {
      gen,
      child,
      input,
      parser: new StderrParser({ onLine: (l) => this.#log.debug(`ffmpeg: ${l}`), secrets: this.#secrets }),
      frames: 0,
      startedAt: Date.now(),
      firstFrameAt: 0,
      stalled: null,
      seekMs: this.#resumeMs,
      frameMs: null,
      paced: this.#opts.pacing === 'fast' && !input.live,
      backlog: [],
      emitting: false,
      afterBacklog: null,
    };
    this.#run = run;
    child.stderr.on('data', (c: Buffer) => run.parser.feed(c));
    this.#wireOutput(run);
    let exited = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null, spawnErr?: Error) => {
      if (exited) return;
      exited = true;
      this.#onExit(run, code, signal, spawnErr);
    };
    child.once('error', (e) => onExit(null, null, e));
    child.once('close', (code, signal) => onExit(code, signal));
    this.#armWatchdog(run);
    if (run.paced) this.#watchPressure();
  }

  #wireOutput(run: Run): void {
    const { child, parser } = run;
    const format = this.#opts.format;
    // ffmpeg writes its stream header (input fps, output size) to stderr before the first frame
    // to stdout, but the two are separate pipes and Node may read stdout first (it does on a
    // busy machine). Every format holds early stdout until the header is parsed: the first
    // frame's pts needs the source rate, and raw frames of an unconfigured size need the size.
    // Reading pauses past 16 MB; ffmpeg's exit (or, when the frame size is already known,
    // HEADER_WAIT_MS without a header) releases what is held.
    let sink: ((chunk: Buffer) => void) | null = null;
    // Raw frames only: whether the splitter holds part of a frame (then the rest is read at once).
    let partial: (() => boolean) | null = null;
    const held: Buffer[] = [];
    let heldBytes = 0;
    let waitTimer: NodeJS.Timeout | null = null;
    const open = (deliver: (chunk: Buffer) => void) => {
      if (waitTimer) clearTimeout(waitTimer);
      waitTimer = null;
      sink = deliver;
      for (const c of held.splice(0)) if (run.gen === this.#gen) deliver(c);
      heldBytes = 0;
      this.#flow(run);
    };
    // JPEG frames carry their size; raw ones of a configured width and height need no header for it.
    const sizeKnown = format === 'jpeg' || (this.#opts.width > 0 && this.#opts.height > 0);
    const openWith = (w: number, h: number) => {
      if (sink) return;
      if (format === 'jpeg') {
        const splitter = new JpegFrameSplitter();
        open((chunk) => splitter.push(chunk, (f) => this.#frame(run, f.data, f.width, f.height)));
        return;
      }
      this.#outW = w;
      this.#outH = h;
      const splitter = new RawFrameSplitter(frameByteLength(w, h, format));
      partial = () => splitter.pendingBytes > 0;
      open((chunk) => splitter.push(chunk, (buf) => this.#frame(run, buf, this.#outW, this.#outH)));
    };
    const check = (atExit = false) => {
      if (sink) return;
      const i = parser.info;
      const header = !!(i.outputWidth && i.outputHeight);
      if (header && !sizeKnown) openWith(i.outputWidth!, i.outputHeight!);
      else if (header || (sizeKnown && atExit)) openWith(this.#opts.width, this.#opts.height);
    };
    child.stderr.on('data', () => check());
    run.flush = () => check(true);
    child.stdout.on('data', (chunk: Buffer) => {
      if (run.gen !== this.#gen) return;
      if (sink) {
        sink(chunk);
        if (run.paced) return this.#flow(run);
        if (partial?.()) this.#drain(run, child, sink, partial);
        return;
      }
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes > 16 * 1024 * 1024) child.stdout.pause();
      if (sizeKnown && !waitTimer) {
        waitTimer = setTimeout(() => {
          waitTimer = null;
          if (run.gen !== this.#gen || sink) return;
          this.#log.debug(`no ffmpeg stream header within ${HEADER_WAIT_MS} ms of the first frame: frames without pts`);
          openWith(this.#opts.width, this.#opts.height);
        }, HEADER_WAIT_MS);
        waitTimer.unref?.();
      }
    });
    child.once('close', () => {
      if (waitTimer) clearTimeout(waitTimer);
      waitTimer = null;
    });
  }

  /**
   * Reads the rest of a raw frame from ffmpeg's stdout synchronously. A 640x480 rgb24 frame is
   * 921 kB and the pipe holds 64 kB: read one pipe-full per turn of the event loop, a frame took
   * 15 turns, and while detection kept the loop busy (several cameras at 25 fps) the frames were
   * read too slowly, ffmpeg waited on the pipe and the video fell behind real time without any
   * frame being dropped or counted. Read at once, complete frames reach the stages, whose `latest`
   * policy then drops (and counts) what they cannot take. Stops at the end of the frame, when
   * ffmpeg has not written for {@link DRAIN_SPIN_NS}, when paused (flow control) or superseded,
   * and does nothing where the pipe's descriptor is not available (then libuv reads as before).
   */
  #drain(run: Run, child: FfmpegChild, sink: (chunk: Buffer) => void, partial: () => boolean): void {
    const fd = (child.stdout as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    // Checked before every read: a subscriber may stop or restart the source from inside `sink`.
    // Only while the stream holds nothing unread itself (after a pause it buffers what libuv read
    // meanwhile, and bytes taken from the pipe now would overtake those).
    const out = child.stdout;
    const more = () => partial() && !this.#paused && run.gen === this.#gen && !out.destroyed && !out.isPaused() && out.readableLength === 0;
    readRestSync(fd, sink, more, DRAIN_SPIN_NS);
  }

  /**
   * A frame parsed from stdout: emitted at once, or for a paced run queued in its backlog.
   *
   * Paced runs emit one frame per turn of the event loop. Node-RED delivers each sent message in
   * a later turn of its own: the frames of one stdout read (a 64 kB read holds 28 48x48 gray
   * frames), all emitted at once, were all on their way before the first reached a stage and
   * reported its depth, so the pause came too late and the stage's queue refused the rest. One
   * per turn, the frame that takes a stage above the high-water mark is delivered (and pauses
   * the source) before the next one is emitted.
   */
  #frame(run: Run, data: Buffer, width: number, height: number): void {
    if (!run.paced) return this.#emit(run, data, width, height);
    if (run.gen !== this.#gen) return;
    run.backlog.push({ data, width, height });
  }

  /**
   * Paced runs: reads stdout only while the backlog is empty and no stage is above the
   * high-water mark (ffmpeg blocks on the full pipe meanwhile), and schedules the next emit.
   */
  #flow(run: Run): void {
    if (run.gen !== this.#gen) return;
    const out = run.child.stdout;
    if (this.#paused || run.backlog.length > 0) {
      if (!out.isPaused()) out.pause();
    } else if (out.isPaused()) out.resume();
    if (!run.paced || this.#paused || run.emitting) return;
    if (run.backlog.length === 0) {
      const after = run.afterBacklog;
      run.afterBacklog = null;
      after?.();
      return;
    }
    run.emitting = true;
    setImmediate(() => {
      run.emitting = false;
      if (run.gen !== this.#gen) return;
      if (!this.#paused) {
        const f = run.backlog.shift();
        if (f) this.#emit(run, f.data, f.width, f.height);
      }
      this.#flow(run);
    });
  }

  #emit(run: Run, data: Buffer, width: number, height: number): void {
    if (run.gen !== this.#gen) return;
    const now = Date.now();
    if (run.frames === 0) {
      run.firstFrameAt = now;
      const info = run.parser.info;
      this.#lastInfo = { ...info, outputWidth: width, outputHeight: height };
      this.#outW = width;
      this.#outH = height;
      const srcFps = info.fps && info.fps < 1000 ? info.fps : 0;
      const rate = this.#opts.fps > 0 && srcFps > 0 ? Math.min(this.#opts.fps, srcFps) : srcFps;
      run.frameMs = !run.input.live && rate > 0 ? 1000 / rate : null;
      this.#setStatus('running');
      this.#log.info(
        `${run.input.description}: ${info.codec ?? '?'} ${info.width ?? '?'}x${info.height ?? '?'} @ ${info.fps ?? '?'} fps → ${width}x${height} ${this.#opts.format}`,
      );
      // An MJPEG stream over HTTP that the URL did not give away: its frames have no timestamps,
      // so the fps cap counts an assumed 25 fps. Say what to set (once per source).
      if (run.input.resolvedKind === 'url' && /mpjpeg/.test(info.container ?? '') && this.#opts.fps > 0 && !run.input.args.includes('-use_wallclock_as_timestamps') && !this.#mjpegHinted) {
        this.#mjpegHinted = true;
        this.#log.warn(`${run.input.description}: an MJPEG stream without timestamps: ffmpeg assumes 25 fps, so the fps cap keeps fewer frames than the camera sends; add "-use_wallclock_as_timestamps 1" to the input args`);
      }
      if (!this.#info.closed) this.#info.next({ ...this.#lastInfo });
      const ws = this.#waiters.splice(0);
      for (const w of ws) w.resolve({ ...this.#lastInfo });
    } else if (this.#attempt > 0 && now - run.firstFrameAt > 10_000) {
      this.#attempt = 0; // stable again: next failure starts the backoff from the beginning
    }
    run.frames++;
    this.#total++;
    const t = this.#fpsTimes;
    // Times after `now`: the clock stepped back (NTP, a manual change). They would never age out
    // of the 5 s window, and the rate over them reads as one frame per ms: start afresh.
    if (t.length > 0 && now < t[t.length - 1]) t.length = 0;
    t.push(now);
    while (t.length > 2 && (now - t[0] > 5000 || t.length > 240)) t.shift();
    this.#armWatchdog(run);
    const frame: Frame = { width, height, format: this.#opts.format, data, timestamp: now, seq: this.#seq++, sourceId: this.id };
    if (run.frameMs !== null) {
      frame.pts = Math.round(run.seekMs + (run.frames - 1) * run.frameMs);
      this.#lastPts = frame.pts;
    }
    this.#frames.next(frame);
  }

  #onExit(run: Run, code: number | null, signal: NodeJS.Signals | null, spawnErr?: Error): void {
    run.parser.end();
    run.flush?.();
    if (run.gen !== this.#gen) return; // stopped or superseded: stop() owns the state
    // A paced run's last frames are still going out (or wait for a stage): they come before the end.
    if (run.backlog.length > 0) {
      run.afterBacklog = () => this.#ended(run, code, signal, spawnErr);
      return this.#flow(run);
    }
    this.#ended(run, code, signal, spawnErr);
  }

  #ended(run: Run, code: number | null, signal: NodeJS.Signals | null, spawnErr?: Error): void {
    if (run.gen !== this.#gen) return;
    this.#clearWatchdog();
    this.#unwatchPressure();
    this.#run = null;
    const exit = { code, signal };
    const bench = run.parser.bench;
    if (spawnErr) {
      this.#fail(new VideoSourceError('spawn-failed', `could not start ffmpeg: ${spawnErr.message}`, exit), run.input.live);
      return;
    }
    // Resume a file where it died (frames so far are not repeated), also after a stall: restarted
    // from its start, a file that stalls mid-way replayed its first part forever.
    if (!run.input.live && !this.#opts.loop && this.#lastPts >= 0 && run.frameMs) this.#resumeMs = this.#lastPts + run.frameMs;
    if (run.stalled) {
      this.#fail(new VideoSourceError('stalled', `${run.input.description}: ${run.stalled}; ffmpeg killed`, exit), true);
      return;
    }
    // A URL with a known duration (an HLS VOD playlist, an .mp4 over HTTP) ends like a file;
    // live streams report "Duration: N/A".
    const finite = run.input.finite || (run.input.resolvedKind === 'url' && (run.parser.info.durationMs ?? 0) > 0);
    // A run resumed after the last frame (its predecessor died just after it) finds nothing left: the end.
    if (code === 0 && finite && (run.frames > 0 || run.seekMs > 0)) {
      this.#setStatus('ended');
      this.#resumeMs = 0;
      const ev: EofEvent = {
        frames: run.frames,
        totalFrames: this.#total,
        elapsedMs: Date.now() - run.startedAt,
        ffmpegCpuMs: bench ? bench.cpuMs : null,
      };
      this.#log.info(`${run.input.description}: end of file after ${run.frames} frames`);
      if (!this.#eof.closed) this.#eof.next(ev);
      return;
    }
    const lines = run.parser.lastLines;
    const { key, line } = classifyFfmpegError(lines);
    let err: VideoSourceError;
    if (code === 0 && run.frames === 0) {
      err = new VideoSourceError('not-video', `${run.input.description}: no video frames could be decoded${line ? ` (${line.trim()})` : ''}`, exit);
    } else if (code === 0) {
      err = new VideoSourceError('exited', `${run.input.description}: stream ended after ${run.frames} frames`, exit);
    } else {
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      err = new VideoSourceError(key, `${run.input.description}: ffmpeg ${how}${line ? `: ${line.trim()}` : ''}`, exit);
    }
    const hard = err.key === 'bad-args' || err.key === 'not-found' || err.key === 'permission';
    const retry = !hard && (run.input.live || run.frames > 0 || (this.#attempt > 0 && this.#attempt < 5));
    this.#fail(err, retry);
  }

  #watchPressure(): void {
    this.#unwatchPressure();
    const fc = FlowControl.for(this.id);
    this.#pressureSub = fc.pressure$.subscribe((depth) => this.#pressure(depth));
    this.#pressure(fc.depth);
  }

  #unwatchPressure(): void {
    this.#pressureSub?.unsubscribe();
    this.#pressureSub = null;
    this.#paused = false;
  }

  #pressure(depth: number): void {
    const run = this.#run;
    if (!run) return;
    if (!this.#paused && depth > this.#opts.highWaterMark) {
      this.#paused = true;
      this.#flow(run);
      this.#clearWatchdog();
    } else if (this.#paused && depth <= this.#opts.lowWaterMark) {
      this.#paused = false;
      this.#flow(run);
      this.#armWatchdog(run);
    }
  }
}

/** Creates a {@link VideoSource} (tfjs-models style factory). */
export function createVideoSource(options: VideoSourceOptions = {}): VideoSource {
  return new VideoSource(options);
}

/**
 * Decodes a file (or any finite source) to the end as a cold Observable: subscribe to start,
 * completes at end of file, errors with a {@link VideoSourceError}; unsubscribing kills ffmpeg.
 *
 * @example
 * ```ts
 * const frames = await lastValueFrom(readFrames({ source: 'clip.mp4', pacing: 'fast' }).pipe(toArray()));
 * ```
 */
export function readFrames(options: VideoSourceOptions): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    const src = new VideoSource({ maxRestarts: 0, ...options });
    const subs = new Subscription();
    subs.add(src.frames$.subscribe((f) => subscriber.next(f)));
    subs.add(src.eof$.subscribe(() => subscriber.complete()));
    subs.add(
      src.status$.subscribe((s) => {
        if (s.state === 'failed' && s.error) subscriber.error(s.error);
      }),
    );
    src.start().catch(() => undefined); // failures arrive through status$
    return () => {
      subs.unsubscribe();
      void src.dispose();
    };
  });
}

/** `scheme://host:port` of a URL, lower case (URL.origin is "null" for rtsp:, udp: …). */
function urlHost(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * What to scrub from logs: the configured password's forms, and for a URL source with inline
 * credentials its whole user information (first, so `bob:***` does not remain) and its password.
 */
function secretsOf(spec: SourceSpec, password: string): string[] {
  const forms = password ? passwordForms(password) : [];
  const userinfo = spec.kind === 'url' ? inlineUserinfo(spec.target) : '';
  const colon = userinfo.indexOf(':');
  if (colon >= 0) {
    const inline = userinfo.slice(colon + 1);
    forms.unshift(userinfo);
    if (inline) forms.push(...passwordForms(inline));
    try {
      if (inline) forms.push(...passwordForms(decodeURIComponent(inline))); // as ffmpeg may print it once decoded
    } catch {
      // not percent-encoded text: its raw forms are enough
    }
  }
  return [...new Set(forms)];
}

/** A password as typed, percent-encoded, and as the URL class writes it into a URL. */
function passwordForms(password: string): string[] {
  const u = new URL('http://host/');
  u.password = password;
  return [...new Set([password, encodeURIComponent(password), u.password])];
}
