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
import { asyncScheduler, defer, Observable, OperatorFunction, SchedulerLike, share, Subject, Subscription } from 'rxjs';
import { map, mergeMap } from 'rxjs/operators';
import type { Frame } from '../frame';
import { OverloadPolicy, overloadMap } from '../overload';
import { classifyInput, EmotionClassifier, GrayImage, loadClassifier, LoadClassifierOptions } from '../classify';
import { createFaceCropper, FaceCropperOptions, FacePipeline } from '../face';
import { EmotionSmoother, SmoothOptions } from '../smooth';
import { AlertEngine, AlertEvent, AlertOptions, AlertRule, resolveAlertOptions, resolveRules } from '../alert';
import { createVideoSource, VideoSource, VideoSourceOptions } from '../video';
import { Logger, silentLogger } from '../log';

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
  /** Called for each frame dropped by the `latest` policy. */
  onDrop?: (frame: Frame) => void;
  /** Clock for smoothing/alerts and latency. @default asyncScheduler */
  scheduler?: SchedulerLike;
}

/**
 * Analyses frames: detect + crop + classify (one batch per frame, under an overload policy),
 * then smoothing and alert rules. Emits one {@link PipelineResult} per analysed frame.
 *
 * <span class="informal">The four processing nodes of the example flow as one operator.</span>
 *
 * @param stages A loaded face cropper and classifier (not disposed by the operator).
 * @param options Policy, smoothing and alert rules.
 * @return An operator from frames to results (alert rules are evaluated per frame).
 */
export function analyzeFrames(stages: AnalyzeStages, options: AnalyzeOptions = {}): OperatorFunction<Frame, PipelineResult> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const rules = resolveRules(options.alerts ?? []);
  const alertOptions = resolveAlertOptions(options.alertOptions ?? {});
  return (source) =>
    defer(() => {
      const smoother = options.smooth === false ? null : new EmotionSmoother(options.smooth ?? {});
      const engine = rules.length ? new AlertEngine(rules, alertOptions) : null;
      engine?.start(scheduler.now());
      return source.pipe(
        overloadMap(
          async (frame: Frame) => {
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
          { policy: options.policy ?? 'latest', onDrop: (f) => options.onDrop?.(f) },
        ),
        map(({ frame, faces, detect, classify }) => {
          const t0 = performance.now();
          const now = scheduler.now();
          let out = faces;
          if (smoother && faces.length) {
            const r = smoother.observe(faces as never, frame.timestamp ?? now, { sourceId: frame.sourceId, clock: now });
            out = r.faces as unknown as PipelineFace[];
          }
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
      );
    });
}

export interface PipelineOptions extends AnalyzeOptions {
  /** Video source options, or an Observable of frames you provide. @default { source: 'default' } */
  source?: VideoSourceOptions | Observable<Frame>;
  /** Face crop options (detector, tracking, framing). */
  face?: FaceCropperOptions;
  /** Classifier options (model, backend). */
  classifier?: LoadClassifierOptions;
  /** Use these instead of loading (they are then not disposed). */
  stages?: Partial<AnalyzeStages>;
  logger?: Logger;
}

export interface Pipeline {
  /** One result per analysed frame (hot; subscribe before {@link Pipeline.start}). */
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
  start(): Promise<void>;
  /** Stops the source and the stages; the models stay loaded (start again later). */
  stop(): Promise<void>;
  /** Stops and frees everything (ffmpeg, tensors). */
  dispose(): Promise<void>;
}

/** Loads the models, builds the video source and wires {@link analyzeFrames}. */
export async function createPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const log = options.logger ?? silentLogger;
  const owned: Array<{ dispose(): unknown }> = [];
  let cropper = options.stages?.cropper;
  let classifier = options.stages?.classifier;
  try {
    if (!cropper) {
      const c = await createFaceCropper({ logger: log, ...options.face });
      owned.push(c);
      cropper = c;
    }
    if (!classifier) {
      const c = await loadClassifier({ logger: log, ...options.classifier });
      owned.push(c);
      classifier = c;
    }
  } catch (e) {
    owned.forEach((o) => o.dispose());
    throw e;
  }
  const src = options.source;
  const video = src && typeof (src as Observable<Frame>).subscribe === 'function' ? null : createVideoSource({ source: 'default', logger: log, ...(src as VideoSourceOptions) });
  const frames$: Observable<Frame> = video ? video.frames$ : (src as Observable<Frame>);
  const results = new Subject<PipelineResult>();
  let dropped = 0;
  let sub: Subscription | null = null;
  const stages = { cropper, classifier } as AnalyzeStages;

  const pipeline: Pipeline = {
    results$: results.asObservable(),
    events$: results.pipe(mergeMap((r) => r.events)),
    get dropped() {
      return dropped;
    },
    video,
    classifier,
    async start() {
      if (sub) return;
      const analyzed$ = frames$.pipe(
        analyzeFrames(stages, { ...options, onDrop: (f) => ((dropped += 1), options.onDrop?.(f)) }),
        share(),
      );
      sub = analyzed$.subscribe({ next: (r) => results.next(r), error: (e) => results.error(e) });
      if (video) await video.start();
    },
    async stop() {
      sub?.unsubscribe();
      sub = null;
      if (video) await video.stop();
    },
    async dispose() {
      await pipeline.stop();
      if (video) await (video as unknown as { dispose(): Promise<void> }).dispose();
      owned.forEach((o) => o.dispose());
      results.complete();
    },
  };
  return pipeline;
}
