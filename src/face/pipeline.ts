/**
 * The face stage as one object: detect (every N frames), track, align and crop.
 * `process(frame)` returns the frame's faces in the message contract (`Face[]`).
 */
import { Frame } from '../frame';
import { notAnObject } from '../options';
import { cropRect, encodeJpeg, imageFromFrame, RawImage } from '../image';
import { CropFraming, cropFace, resolveFraming } from './align';
import { checkDetectorImage, DetectorTimings, FaceDetector, FaceDetectorOptions, loadFaceDetector, resolveDetectorOptions } from './blazeface';
import { createDetectorPool, DetectorPool, MAX_DETECTOR_THREADS } from './detector-pool';
import { appearanceDescriptor, FaceTracker, TrackerOptions, TrackInput, TrackResult } from './tracker';
import { Detection, Face } from './types';
import { inBox, keepInZones, offsetDetection, ResolvedZones, resolveZones, Zone, zoneToPixels } from './zones';

export interface FaceCropperOptions extends FaceDetectorOptions {
  /** Run the detector on every Nth frame of a source and track in between. @default 1 */
  detectEvery?: number;
  /** Tracker tuning (ids, missed frames, re-identification). */
  tracker?: TrackerOptions;
  /** Crop side in pixels. @default 48 */
  cropSize?: number;
  /** Crop framing preset (`fer2013`, `ck48`) or object; `fer2013` matches the default in-the-wild classifier, `ck48` the CK+ models. @default 'fer2013' */
  framing?: string | CropFraming;
  /** Extra context around the framed face (fraction of the crop side on each side). @default 0 */
  margin?: number;
  /**
   * Region of interest, in fractions of the frame (or the node's text form, `"left,top,width,height"`
   * in %): the detector sees only this part of the frame, scaled to its input (so faces in it
   * look larger to it), and faces whose box centre lies outside are dropped. @default the whole frame
   */
  roi?: Zone | string | null;
  /** Ignore zones (a TV, a poster, a mirror): faces whose box centre lies in one are dropped. At most 16. @default none */
  ignore?: Zone[] | string | null;
  /** Also encode each crop as JPEG (`face.jpeg`); a boolean (anything else throws). @default false */
  jpeg?: boolean;
  /** JPEG quality of `face.jpeg`, an integer in 1..100 (checked even without `jpeg`). @default 90 */
  jpegQuality?: number;
  /**
   * Run the detector in this many worker threads (0: in this thread). Frames of different
   * sources are then detected in parallel on several cores (call {@link FacePipeline.process}
   * for them without awaiting each); one source's frames still run in order. Workers use the
   * wasm backend (cpu if asked for). @default 0
   */
  threads?: number;
  /** With `threads`: aborting it while the workers load stops them and rejects with its reason. */
  signal?: AbortSignal;
  /** Use this detector instead of loading one (it is NOT disposed by the cropper). */
  detector?: FaceDetector;
}

/** Where the time of the latest {@link FacePipeline.process} call went, in ms. */
export interface FacePipelineTimings {
  /** Whether the detector ran on this frame (else boxes came from the motion model). */
  detected: boolean;
  /** Detector stages (on detection frames). */
  detector?: Readonly<DetectorTimings>;
  /** Detector call in total (0 on tracked frames). */
  detect: number;
  /** Tracking (matching, motion model, appearance descriptors). */
  track: number;
  /** Aligned crops (and JPEG encoding when asked). */
  crop: number;
  /** The whole frame, decode included. */
  total: number;
}

interface SourceState {
  tracker: FaceTracker;
  frames: number;
  /** Size of the source's latest frame (its tracks are in that frame's pixels). */
  width: number;
  height: number;
}

/** Sources remembered at once (each has its own tracker); beyond it the least recently seen is forgotten. */
const MAX_SOURCES = 32;

/** Validates the crop options and fills their defaults (throws a TypeError naming a bad one). */
function resolveCropOptions(options: FaceCropperOptions): FacePipeline['options'] {
  const detectEvery = options.detectEvery ?? 1;
  if (!Number.isInteger(detectEvery) || detectEvery < 1 || detectEvery > 1000) {
    throw new TypeError(`Expected \`detectEvery\` to be an integer >= 1, got \`${String(detectEvery)}\``);
  }
  const margin = options.margin ?? 0;
  if (typeof margin !== 'number' || !(margin > -0.45 && margin <= 2)) throw new TypeError(`Expected \`margin\` in -0.45..2, got \`${String(margin)}\``);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_DETECTOR_THREADS) {
    throw new TypeError(`Expected \`threads\` to be an integer in 0..${MAX_DETECTOR_THREADS}, got \`${String(threads)}\``);
  }
  const cropSize = options.cropSize ?? 48;
  if (!Number.isInteger(cropSize) || cropSize < 8 || cropSize > 1024) throw new TypeError(`Expected \`cropSize\` in 8..1024, got \`${String(cropSize)}\``);
  // Not any truthy value: `jpeg: 'no'` (or a config string) would encode every crop.
  const jpeg = options.jpeg ?? false;
  if (typeof jpeg !== 'boolean') throw new TypeError(`Expected \`jpeg\` to be a boolean, got \`${String(jpeg)}\``);
  const jpegQuality = options.jpegQuality ?? 90;
  if (!Number.isInteger(jpegQuality) || jpegQuality < 1 || jpegQuality > 100) {
    throw new TypeError(`Expected \`jpegQuality\` to be an integer in 1..100, got \`${String(jpegQuality)}\``);
  }
  return {
    detectEvery,
    cropSize,
    zones: resolveZones(options),
    framing: resolveFraming(options.framing ?? 'fer2013'),
    margin,
    jpeg,
    jpegQuality,
  };
}

/** A bare string (`createFaceCropper('fer2013')`, `createPipeline({ face: 'ck48' })`) set nothing: refused. */
function checkObject(options: unknown): void {
  const notObject = notAnObject(options);
  if (notObject) throw new TypeError(`face cropper options must be an object, e.g. { framing: 'fer2013' }, got ${notObject}`);
}

/**
 * Checks every option of {@link createFaceCropper} (detector, crops, tracker) without loading
 * anything: throws the TypeError the cropper would throw after loading its weights.
 */
export function checkFaceCropperOptions(options: FaceCropperOptions = {}): void {
  checkObject(options);
  resolveDetectorOptions(options);
  resolveCropOptions(options);
  new FaceTracker({ ...options.tracker });
}

/**
 * Detects, tracks, aligns and crops the faces of a stream of frames.
 *
 * @example
 * ```ts
 * const cropper = await createFaceCropper({ detectEvery: 3, jpeg: true });
 * const faces = await cropper.process(frame); // [{ id, box, score, keypoints, crop, jpeg }]
 * cropper.dispose();
 * ```
 */
export class FacePipeline {
  readonly detector: FaceDetector;
  readonly options: Readonly<{ detectEvery: number; cropSize: number; zones: ResolvedZones; framing: CropFraming; margin: number; jpeg: boolean; jpegQuality: number }>;
  readonly #ownsDetector: boolean;
  readonly #trackerOptions: TrackerOptions;
  #sources = new Map<string, SourceState>();
  /**
   * Each source's latest asynchronous frame: the next one waits for it (tracking is in order).
   * Kept apart from `#sources`, whose least recently seen source is forgotten beyond MAX_SOURCES: a source
   * forgotten with frames in flight must still run its later frames after them. An entry goes
   * when its frame settles, so only sources with frames in flight have one.
   */
  #tails = new Map<string, Promise<unknown>>();
  #nextId = 1;
  #timings: FacePipelineTimings = { detected: false, detect: 0, track: 0, crop: 0, total: 0 };

  /** Stage times of the latest frame (for metrics and benchmarks). */
  get lastTimings(): Readonly<FacePipelineTimings> {
    return this.#timings;
  }

  constructor(detector: FaceDetector, options: FaceCropperOptions = {}, ownsDetector = false) {
    this.options = resolveCropOptions(options);
    this.detector = detector;
    this.#ownsDetector = ownsDetector;
    this.#trackerOptions = { ...options.tracker };
    new FaceTracker(this.#trackerOptions); // validates the tracker options now
  }

  #state(sourceId: string, img: RawImage): SourceState {
    let s = this.#sources.get(sourceId);
    if (s && (s.width !== img.width || s.height !== img.height)) {
      // A new frame size (another video switched into the source, a camera reconnected at
      // another resolution, still images of different sizes): the tracks' pixel coordinates mean
      // nothing in it. Start over with a detection, as for a new source (ids continue).
      s.tracker.reset();
      s.frames = 0;
      s.width = img.width;
      s.height = img.height;
    }
    if (s) {
      // Most recently used last: beyond MAX_SOURCES the source idle longest is forgotten, not a
      // camera that sends every frame but was seen first.
      this.#sources.delete(sourceId);
      this.#sources.set(sourceId, s);
    } else {
      if (this.#sources.size >= MAX_SOURCES) this.#sources.delete(this.#sources.keys().next().value as string);
      // One id sequence for all sources (the caller's, when given), so a track id names one face
      // across the pipeline.
      s = { tracker: new FaceTracker({ ...this.#trackerOptions, nextId: this.#trackerOptions.nextId ?? (() => this.#nextId++) }), frames: 0, width: img.width, height: img.height };
      this.#sources.set(sourceId, s);
    }
    return s;
  }

  /**
   * The faces of one frame (`[]` when there are none). Frames of different `sourceId`s are
   * tracked separately (and, with worker threads, detected in parallel).
   */
  async process(frame: Frame): Promise<Face[]> {
    const t0 = performance.now();
    const img = imageFromFrame(frame, { maxPixels: this.detector.options.maxPixels });
    const faces = await this.processImageAsync(img, frame.pts ?? frame.timestamp, frame.sourceId ?? '');
    this.#timings.total = performance.now() - t0;
    return faces;
  }

  /**
   * {@link FacePipeline.processImage} for any detector, including one in worker threads. Calls
   * for one source run in the order they were made, even when not awaited.
   */
  processImageAsync(img: RawImage, time: number, sourceId = ''): Promise<Face[]> {
    if (!(this.detector instanceof DetectorPool)) {
      try {
        return Promise.resolve(this.processImage(img, time, sourceId));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const pool = this.detector;
    const run = (this.#tails.get(sourceId) ?? Promise.resolve()).then(async () => {
      const st = this.#state(sourceId, img); // now: the source may have been reset or forgotten meanwhile
      const detectNow = st.frames % this.options.detectEvery === 0;
      st.frames++;
      if (!detectNow) return this.#track(img, time, st, null, 0);
      const t0 = performance.now();
      const { input, region } = this.#detectorInput(img);
      // A region's crop is this frame's own copy: moved to the worker, not copied again.
      const dets = this.#inFrame(await pool.detectImageAsync(input, { transfer: region !== null }), region, img);
      return this.#track(img, time, st, dets, performance.now() - t0);
    });
    const tail = run.catch(() => undefined);
    this.#tails.set(sourceId, tail);
    void tail.then(() => {
      if (this.#tails.get(sourceId) === tail) this.#tails.delete(sourceId);
    });
    return run;
  }

  /** {@link FacePipeline.process} for a decoded image with an explicit time and source (a detector in this thread only). */
  processImage(img: RawImage, time: number, sourceId = ''): Face[] {
    if (this.detector instanceof DetectorPool) {
      throw new Error('processImage() runs the detector in this thread; with worker threads use process() or processImageAsync()');
    }
    const st = this.#state(sourceId, img);
    const detectNow = st.frames % this.options.detectEvery === 0;
    st.frames++;
    if (!detectNow) return this.#track(img, time, st, null, 0);
    const t0 = performance.now();
    const { input, region } = this.#detectorInput(img);
    const dets = this.#inFrame(this.detector.detectImage(input), region, img);
    return this.#track(img, time, st, dets, performance.now() - t0);
  }

  /** What the detector sees: the region of interest (copied out) or the whole frame. */
  #detectorInput(img: RawImage): { input: RawImage; region: { x: number; y: number } | null } {
    const roi = this.options.zones.roi;
    if (!roi || !(img.width > 0 && img.height > 0)) return { input: img, region: null };
    // The frame's own limits first, as without a region (the crop alone might pass them).
    checkDetectorImage(img, this.detector.options.maxPixels);
    const box = zoneToPixels(roi, img.width, img.height);
    return { input: cropRect(img, box), region: box };
  }

  /** Detections in frame coordinates, without those outside the region or in an ignore zone. */
  #inFrame(dets: Detection[], region: { x: number; y: number } | null, img: RawImage): Detection[] {
    const moved = region ? dets.map((d) => offsetDetection(d, region.x, region.y)) : dets;
    return keepInZones(moved, this.options.zones, img.width, img.height);
  }

  /** Tracks, aligns and crops one frame, given its detections (`null`: a frame between detections). */
  #track(img: RawImage, time: number, st: SourceState, dets: Detection[] | null, detectMs: number): Face[] {
    const cropOpts = { size: this.options.cropSize, framing: this.options.framing, margin: this.options.margin };
    const t1 = performance.now();
    let faces: Face[];
    if (dets) {
      const crops = dets.map((d) => cropFace(img, d, cropOpts));
      const t2 = performance.now();
      const inputs: TrackInput[] = dets.map((d, i) => ({ ...d, descriptor: appearanceDescriptor(crops[i]) }));
      // Faces enter and leave the watched view by its edges: the region's, when there is one.
      const roi = this.options.zones.roi;
      const tracked = st.tracker.update(inputs, time, roi ? zoneToPixels(roi, img.width, img.height) : img);
      const t3 = performance.now();
      // Results 0..n-1 are the detections (crops already made, zones applied); later ones are
      // held faces, moved by the motion model: those that drifted out of the zones are not reported.
      const held = keepInZones(tracked.slice(crops.length), this.options.zones, img.width, img.height);
      faces = [...tracked.slice(0, crops.length).map((t, i) => this.#face(t, crops[i])), ...held.map((t) => this.#face(t, cropFace(img, t, cropOpts)))];
      const t4 = performance.now();
      this.#timings = { detected: true, detector: this.detector.lastTimings, detect: detectMs, track: t3 - t2, crop: t2 - t1 + (t4 - t3), total: detectMs + (t4 - t1) };
    } else {
      // Between detections: no network, just the motion model's boxes and their crops.
      // Faces the motion model moved out of the region or into an ignore zone are not reported
      // (the tracker keeps them: the next detection decides).
      // Faces whose centre the motion model moved out of the frame are not reported either (their
      // crop would be padding), as on detection frames (the tracker keeps them: the next detection decides).
      const frame = { x: 0, y: 0, width: img.width, height: img.height };
      const inFrame = (t: TrackResult) => inBox(t.box.x + t.box.width / 2, t.box.y + t.box.height / 2, frame);
      const predicted = keepInZones(st.tracker.predict(time).filter(inFrame), this.options.zones, img.width, img.height);
      const t2 = performance.now();
      faces = predicted.map((t) => this.#face(t, cropFace(img, t, cropOpts)));
      const t3 = performance.now();
      this.#timings = { detected: false, detect: 0, track: t2 - t1, crop: t3 - t2, total: t3 - t1 };
    }
    // Largest confidence first, as documented: held and tracked faces come in track order.
    return faces.sort((a, b) => b.score - a.score);
  }

  #face(t: Omit<Face, 'crop'>, crop: Face['crop']): Face {
    crop.framing = this.options.framing.name; // the crop is cropFace's fresh object: tag it, no copy per face
    const face: Face = { id: t.id, box: t.box, score: t.score, keypoints: t.keypoints, detected: t.detected, crop };
    if (this.options.jpeg) face.jpeg = encodeJpeg(crop, { quality: this.options.jpegQuality });
    return face;
  }

  /** Forgets tracks (of one source, or all). */
  reset(sourceId?: string): void {
    if (sourceId === undefined) this.#sources.clear();
    else this.#sources.delete(sourceId);
  }

  dispose(): void {
    this.#sources.clear();
    if (this.#ownsDetector) this.detector.dispose();
  }
}

/**
 * Loads the detector (unless one is passed) and returns a {@link FacePipeline}.
 *
 * @example
 * ```ts
 * const cropper = await createFaceCropper({ minConfidence: 0.6, detectEvery: 3 });
 * ```
 */
export async function createFaceCropper(options: FaceCropperOptions = {}): Promise<FacePipeline> {
  checkObject(options); // spread below, a string would set no option
  const opts = { ...options };
  if (opts.detector) return new FacePipeline(opts.detector, opts, false);
  checkFaceCropperOptions(opts); // before the detector's weights load
  const threads = opts.threads ?? 0;
  const detector = threads > 0 ? await createDetectorPool({ ...opts, threads }) : await loadFaceDetector(opts);
  try {
    return new FacePipeline(detector, opts, true);
  } catch (e) {
    detector.dispose();
    throw e;
  }
}
