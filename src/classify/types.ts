/**
 * Types of the classifier stage. The classifier contract itself (CONVENTIONS.md, "Core API
 * contracts") is src/model's; it is re-exported here under the stage's names.
 */

/** A 48x48 grayscale crop, 0..255, row-major (src/model's `FaceImage`). */
export type { FaceImage as GrayImage, Classification, EmotionClassifier, LoadOptions as LoadClassifierOptions, TtaMode } from '../model';
import type { EmotionClassifier, LoadOptions as LoadClassifierOptions } from '../model';

/** Options of `loadClassifier`: src/model's `load()` options, and worker threads (0 or absent: this thread). */
export interface ClassifierOptions extends LoadClassifierOptions {
  /** Worker threads the model runs in, 0..8 (see `loadClassifierPool`). @default 0 */
  threads?: number;
  /** With `threads`: aborting it while the workers load stops them and rejects with its reason. */
  signal?: AbortSignal;
}

/** `load()` of src/model, or a stand-in (tests, custom models). */
export type ClassifierLoader = (options: LoadClassifierOptions) => Promise<EmotionClassifier>;

/** A face as the face stage emits it (only the fields this stage reads are required). */
export interface FaceLike {
  id?: number;
  box?: { x: number; y: number; width: number; height: number };
  score?: number;
  /** `framing`: the crop framing of the face stage that made it (see `framingMismatch`). */
  crop?: { width: number; height: number; data: Buffer | Uint8Array; framing?: string };
  emotion?: { label: string; confidence: number; probabilities: Record<string, number> };
  smoothed?: { label: string; confidence: number; probabilities: Record<string, number>; since?: number };
  [key: string]: unknown;
}
