/**
 * The whole pipeline as a library, without Node-RED: video source → face crop and tracking →
 * EmotionNet Nano → per-face smoothing → alert events. The Node-RED flow in
 * examples/ wires the same stages node by node; this composition is what the benchmark runs.
 *
 * @example
 * ```ts
 * const p = await createPipeline({
 *   source: { source: 'default' },
 *   alerts: [{ name: 'smile', labels: ['happy'], threshold: 0.6, minDurationMs: 2000 }],
 * });
 * p.events$.subscribe((e) => console.log(e.event, e.rule, e.trackId, e.label));
 * p.results$.subscribe((r) => console.log(r.faces.map((f) => f.smoothed?.label), r.latencyMs));
 * await p.start();
 * // …
 * await p.dispose();
 * ```
 */
import { asyncScheduler, defer, merge, Observable, OperatorFunction, SchedulerLike, share, Subject, Subscription } from 'rxjs';
import { filter, finalize, map, mergeMap, takeUntil, tap } from 'rxjs/operators';
import type { Frame } from '../frame';
import { OverloadPolicy, overloadMap, resolveQueueOptions, SourceDepths } from '../overload';
import { checkClassifierOptions, ClassifierOptions, classifyInput, EmotionClassifier, GrayImage, loadClassifier } from '../classify';
import { checkFaceCropperOptions, createFaceCropper, FaceCropperOptions, FacePipeline } from '../face';
import { framesInFlight } from '../worker-pool';
import { EmotionSmoother, resolveSmoothOptions, SmoothOptions } from '../smooth';
import { AlertEngine, AlertEvent, AlertOptions, AlertRule, resolveAlertOptions, resolveRules } from '../alert';
import { createVideoSource, VideoSource, VideoSourceError, VideoSourceOptions } from '../video';
import { Logger, silentLogger } from '../log';
import { notAnObject } from '../options';

export * from './demo-clip';

/** Per-stage milliseconds for one frame (the `msg.timing` of the Node-RED flow). */
export interface PipelineTiming {
  /** Face detection, tracking, alignment and cropping. */
  detect: number;
  /** One batch through EmotionNet Nano. */
  classify: number;
  /** Smoothing and alert rules. */
  smooth: number;
}

/** The faces of a frame after every stage (face contract + `emotion` + `smoothed`). */
export type PipelineFace = Awaited<ReturnType<FacePipeline['process']>>[number] & {
  emotion?: { label: string; confidence: number; probabilities: Record<string, number> };
  smoothed?: { label: string; confidence: number; probabilities: Record<string, number>; since: number };
};

export interface PipelineResult {
  frame: Frame;
  faces: PipelineFace[];
  /** Alert events caused by this frame. */
  events: AlertEvent[];
  timing: PipelineTiming;
  /** From the frame's capture (`frame.timestamp`) to this result, ms. */
  latencyMs: number;
}

export interface AnalyzeStages {
  cropper: Pick<FacePipeline, 'process'>;
  classifier: Pick<EmotionClassifier, 'classify'>;
}

export interface AnalyzeOptions {
  /** Overload policy of the detect+classify stage. @default 'latest' */
  policy?: OverloadPolicy;
  /** Smoothing options, or `false` to skip smoothing. @default {} */
  smooth?: SmoothOptions | false;
  /** Alert rules (none: no events). @default [] */
  alerts?: AlertRule[];
  alertOptions?: AlertOptions;
  /**
   * Frames of different sources analysed at once (never two of one source; results of different
   * sources may then come out of arrival order). Worth it when the cropper detects in worker
   * threads. @default one more than the cropper's detector threads (`face.threads`) or the
   * classifier's threads (`classifier.threads`), whichever has more; else 1
   */
  concurrency?: number;
  /** Called for each frame dropped by the `latest` policy. */
  onDrop?: (frame: Frame) => void;
  /** Clock for smoothing/alerts and latency. @default asyncScheduler */
  scheduler?: SchedulerLike;
}

let nextStageId = 1;

/** The worker threads of a stage (a detector or classifier pool), if any. */
const threadsOf = (stage: unknown): unknown => (stage as { threads?: unknown } | undefined)?.threads;
/** Frames in flight for a detector in `detector` threads and a classifier in `classifier` threads. */
const inFlight = (detector: unknown, classifier: unknown) => Math.max(framesInFlight(detector), framesInFlight(classifier));

/**
 * Analyses frames: detect + crop + classify (one batch per frame, under an overload policy),
 * then smoothing and alert rules. Emits one {@link PipelineResult} per analysed frame.
 *
 * <span class="informal">The four processing nodes of the example flow as one operator.</span>
 *
 * @param stages A loaded face cropper and classifier (not disposed by the operator; read per frame).
 * @param options Policy, smoothing and alert rules (validated here: a bad value throws).
 * @return An operator from frames to results (alert rules are evaluated per frame).
 */
export function analyzeFrames(stages: AnalyzeStages, options: AnalyzeOptions = {}): OperatorFunction<Frame, PipelineResult> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const rules = resolveRules(options.alerts ?? []);
  const alertOptions = resolveAlertOptions(options.alertOptions ?? {});
  if (options.smooth !== false) resolveSmoothOptions(options.smooth ?? {});
  const concurrency = options.concurrency ?? inFlight(threadsOf((stages.cropper as Partial<FacePipeline>).detector), threadsOf(stages.classifier));
  resolveQueueOptions({ policy: options.policy, concurrency });
  return (source) =>
    defer(() => {
      const smoother = options.smooth === false ? null : new EmotionSmoother(options.smooth ?? {});
      const engine = rules.length ? new AlertEngine(rules, alertOptions) : null;
      engine?.start(scheduler.now());
      // Report each source's own queued frames to its FlowControl (as the face and classify nodes
      // do), so a file paced `fast` pauses reading instead of overflowing a `queue` when the stages
      // are asynchronous (worker threads). A source leaves the count when its last frame leaves the
      // queue, so the count stays bounded by the queue however many sources pass through.
      const stageId = `analyzeFrames-${nextStageId++}`;
      const depths = new SourceDepths(stageId);
      return source.pipe(
        // Counted before the push: a `latest` push may supersede (and uncount) an older frame of
        // the same source synchronously.
        tap((f: Frame) => {
          depths.add(f?.sourceId);
          depths.report(f?.sourceId);
        }),
        overloadMap(
          async (frame: Frame) => {
            depths.remove(frame.sourceId); // left the queue: started
            const t0 = performance.now();
            const faces = (await stages.cropper.process(frame)) as PipelineFace[];
            const t1 = performance.now();
            if (faces.length) {
              const images = faces.map((f) => f.crop as unknown as GrayImage);
              await classifyInput(stages.classifier as EmotionClassifier, { kind: 'faces', faces: faces as never, images });
            }
            const t2 = performance.now();
            return { frame, faces, detect: t1 - t0, classify: t2 - t1 };
          },
          {
            policy: options.policy ?? 'latest',
            concurrency,
            key: (f) => f.sourceId,
            onDrop: (f) => {
              depths.remove(f.sourceId); // superseded, or discarded on unsubscribe
              options.onDrop?.(f);
            },
          },
        ),
        map(({ frame, faces, detect, classify }) => {
          const t0 = performance.now();
          const now = scheduler.now();
          let out = faces;
          if (smoother && faces.length) {
            // Like the smoothFaces operator: a frame without a usable timestamp is timed on the clock.
            const t = typeof frame.timestamp === 'number' && Number.isFinite(frame.timestamp) ? frame.timestamp : now;
            const r = smoother.observe(faces as never, t, { sourceId: frame.sourceId, clock: now });
            out = r.faces as unknown as PipelineFace[];
          }
          engine?.syncClock(now);
          const events = engine ? engine.observe(out as never, now, frame.sourceId) : [];
          const smooth = performance.now() - t0;
          return {
            frame,
            faces: out,
            events,
            timing: { detect, classify, smooth },
            latencyMs: Date.now() - frame.timestamp,
          } satisfies PipelineResult;
        }),
        finalize(() => depths.forgetAll()),
      );
    });
}

export interface PipelineOptions extends AnalyzeOptions {
  /** Video source options, or an Observable of frames you provide. @default { source: 'default' } */
  source?: VideoSourceOptions | Observable<Frame>;
  /** Face crop options (detector, tracking, framing). */
  face?: FaceCropperOptions;
  /** Classifier options (model, backend, threads); `tta`, `executor`, `backend` and `threads` are checked before anything loads. */
  classifier?: ClassifierOptions;
  /** Use these instead of loading (they are then not disposed). */
  stages?: Partial<AnalyzeStages>;
  logger?: Logger;
}

export interface Pipeline {
  /**
   * One result per analysed frame (hot; subscribe before {@link Pipeline.start}). Completes
   * when the source ends (end of a file that is not looped, or the Observable you gave
   * completes) once the last frame is analysed, and on {@link Pipeline.dispose}. Errors when a
   * stage fails (the source is then stopped, ffmpeg killed), and with the source's
   * `VideoSourceError` when a running source gives up (`maxRestarts` used up, a file that cannot be
   * resumed). An ended or failed pipeline cannot be started again: create a new one.
   */
  readonly results$: Observable<PipelineResult>;
  /**
   * Every alert event. Rules are evaluated per analysed frame (a live source sends frames
   * with or without faces); the Node-RED alert node also fires on timers between frames.
   */
  readonly events$: Observable<AlertEvent>;
  /** Frames dropped by the overload policy so far. */
  readonly dropped: number;
  /** The video source (null when frames were given as an Observable). */
  readonly video: VideoSource | null;
  readonly classifier: Pick<EmotionClassifier, 'classify'>;
  /**
   * Starts the source (resolves once ffmpeg runs). If that fails it rejects, the source is
   * stopped (a camera is not retried in the background) and the pipeline stays startable (fix
   * the cause, call `start()` again); after the pipeline ended, failed or was disposed it rejects.
   * A call while a start is in progress waits for that start (and its outcome).
   */
  start(): Promise<void>;
  /** Stops the source and the stages; the models stay loaded (start again later). */
  stop(): Promise<void>;
  /** Stops and frees everything (ffmpeg, tensors). */
  dispose(): Promise<void>;
}

/**
 * Validates the options, loads the models, builds the video source and wires
 * {@link analyzeFrames}. Invalid options throw before any model is loaded.
 */
export async function createPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  // A bare string (`createPipeline('rtsp://…')`) gave no option: the default sample played instead.
  const notObject = notAnObject(options);
  if (notObject) throw new TypeError(`createPipeline() options must be an object, e.g. { source: { source: 'rtsp://…' } }, got ${notObject}`);
  const log = options.logger ?? silentLogger;
  let dropped = 0;
  // Filled below; the operator reads them per frame.
  const stages = { ...options.stages } as AnalyzeStages;
  // The stages load below: their worker threads set the default concurrency from the options (a
  // bad `threads` is left to the stage's options check, which names it).
  const concurrency =
    options.concurrency ??
    inFlight(stages.cropper ? threadsOf((stages.cropper as Partial<FacePipeline>).detector) : options.face?.threads, stages.classifier ? threadsOf(stages.classifier) : options.classifier?.threads);
  const analyze = analyzeFrames(stages, { ...options, concurrency, onDrop: (f) => ((dropped += 1), options.onDrop?.(f)) });
  const src = options.source;
  const given = src && typeof (src as Observable<Frame>).subscribe === 'function' ? (src as Observable<Frame>) : null;
  // Spread below, a string (`source: 'rtsp://…'`) gave no option and the default sample played instead.
  const srcNotObject = src === undefined || given ? null : notAnObject(src);
  if (srcNotObject) {
    throw new VideoSourceError('bad-source', `source must be video source options, e.g. { source: 'rtsp://…', fps: 10 }, or an Observable of frames, got ${srcNotObject}`);
  }
  const owned: Array<{ dispose(): unknown }> = [];
  let video: VideoSource | null = null;
  // Every option is checked before any weights load (a bad one throws, naming it): the video
  // source is built first (nothing runs before start()), then the face and classifier options
  // (the classifier's `tta`, `executor`, `backend` and `threads`).
  if (!stages.cropper) checkFaceCropperOptions(options.face);
  if (!stages.classifier) checkClassifierOptions(options.classifier);
  if (!given) video = createVideoSource({ source: 'default', logger: log, ...(src as VideoSourceOptions) });
  try {
    if (!stages.cropper) {
      const c = await createFaceCropper({ logger: log, ...options.face });
      owned.push(c);
      stages.cropper = c;
    }
    if (!stages.classifier) {
      const c = await loadClassifier({ logger: log, ...options.classifier });
      owned.push(c);
      stages.classifier = c;
    }
  } catch (e) {
    owned.forEach((o) => o.dispose());
    if (video) await video.dispose(); // never started: nothing to stop, its streams complete
    throw e;
  }
  // Set once start() has the source running: a failure before that is start()'s rejection.
  let sourceUp = false;
  // A file source ends with eof$ (its frames$ stays open for a restart): end the stream there. A
  // source that gives up once running (a file that cannot be resumed, `maxRestarts` used up)
  // reports it only on status$ (frames$ never errors): fail the stream with its error.
  const frames$: Observable<Frame> = video
    ? merge(
        video.frames$,
        video.status$.pipe(
          filter((s) => sourceUp && s.state === 'failed'),
          map((s) => {
            throw s.error ?? new Error('the video source failed');
          }),
        ),
      ).pipe(takeUntil(video.eof$))
    : (given as Observable<Frame>);
  const results = new Subject<PipelineResult>();
  let sub: Subscription | null = null;
  let over: 'ended' | 'failed' | 'disposed' | null = null;
  /** The start() in progress (a second call waits for it). */
  let starting: Promise<void> | null = null;
  const stopQuietly = () => pipeline.stop().catch((e: unknown) => log.warn(`pipeline: stopping the source failed: ${e instanceof Error ? e.message : String(e)}`));

  const pipeline: Pipeline = {
    results$: results.asObservable(),
    events$: results.pipe(mergeMap((r) => r.events)),
    get dropped() {
      return dropped;
    },
    video,
    classifier: stages.classifier,
    async start() {
      if (over) throw new Error(`this pipeline has ${over === 'disposed' ? 'been disposed' : over}; create a new one to start again`);
      // Already started, or starting: a second call waits for the same start (it resolved at once,
      // before ffmpeg ran, and a failure reached only the first caller).
      if (sub) return starting ?? undefined;
      const s = frames$.pipe(analyze, share()).subscribe({
        next: (r) => results.next(r),
        // Stop the source first (ffmpeg is gone when subscribers hear of the end).
        error: (e) => {
          over = 'failed';
          void stopQuietly().then(() => results.error(e));
        },
        complete: () => {
          over = 'ended';
          void stopQuietly().then(() => results.complete());
        },
      });
      if (s.closed) return; // the source ended (or failed) at once
      sub = s;
      if (video) {
        const v = video;
        const run = (async () => {
          try {
            await v.start();
            if (sub === s) sourceUp = true;
          } catch (e) {
            s.unsubscribe();
            if (sub === s) {
              sub = null;
              // A live source keeps retrying after a failed start: stop it, the pipeline did not start
              // (it would respawn ffmpeg in the background, keep the process alive and decode for nobody).
              await v.stop();
            }
            throw e;
          }
        })();
        starting = run;
        try {
          await run;
        } finally {
          if (starting === run) starting = null;
        }
      }
    },
    async stop() {
      sourceUp = false;
      sub?.unsubscribe();
      sub = null;
      if (video) await video.stop();
    },
    async dispose() {
      over = over ?? 'disposed';
      await pipeline.stop();
      if (video) await (video as unknown as { dispose(): Promise<void> }).dispose();
      owned.forEach((o) => o.dispose());
      results.complete();
    },
  };
  return pipeline;
}
