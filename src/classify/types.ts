/**
 * The classifier contract (see CONVENTIONS.md, "Core API contracts"), restated here so the
 * stage glue compiles and is testable on its own; src/model implements it.
 */
import type { BackendInfo } from '../backend';
import type { Logger } from '../log';

/** A 48x48 grayscale crop, 0..255, row-major. */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Classification {
  /** Canonical lowercase label of the most probable class. */
  label: string;
  /** Probability of {@link label}, 0..1. */
  confidence: number;
  /** Probability per canonical label (sums to ~1). */
  probabilities: Record<string, number>;
}

export interface EmotionClassifier {
  readonly name: string;
  readonly classes: string[];
  readonly backend: BackendInfo;
  classify(faces: GrayImage[]): Promise<Classification[]>;
  dispose(): void;
}

export interface LoadClassifierOptions {
  /** Registered name (`nano-a`, `nano-b`, `nano-a-8`, `nano-b-8`, …) or a path. @default 'nano-a' */
  model?: string;
  /** @default 'auto' */
  backend?: string;
  logger?: Logger;
}

/** `load()` of src/model, or a stand-in (tests, custom models). */
export type ClassifierLoader = (options: LoadClassifierOptions) => Promise<EmotionClassifier>;

/** A face as the face stage emits it (only the fields this stage reads are required). */
export interface FaceLike {
  id?: number;
  box?: { x: number; y: number; width: number; height: number };
  score?: number;
  crop?: GrayImage | { width: number; height: number; data: Buffer | Uint8Array };
  emotion?: Classification;
  smoothed?: Classification & { since?: number };
  [key: string]: unknown;
}
