/**
 * Offline loading of the shipped BlazeFace graph model through a file-system IO handler
 * (no network, no tfjs-node file:// handler, works on every backend).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { io } from '@tensorflow/tfjs-core';

/** Directory of the shipped weights, found by walking up from this file (src/ or dist/src/). */
export function defaultBlazeFaceDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'models', 'blazeface');
    if (fs.existsSync(path.join(candidate, 'blazeface.json'))) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', 'models', 'blazeface');
}

interface ModelJson {
  modelTopology: { node: Array<{ name: string; op: string; attr?: Record<string, { shape?: { dim: Array<{ size: string }> } }> }> };
  weightsManifest: Array<{ paths: string[]; weights: io.WeightsManifestEntry[] }>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  userDefinedMetadata?: io.ModelArtifacts['userDefinedMetadata'];
}

/**
 * An `io.IOHandler` reading a tfjs graph model (model.json + weight shards) from disk.
 * `patch` may edit the parsed model.json first (used to free the input's spatial size).
 */
export function fileModelHandler(jsonPath: string, patch?: (json: ModelJson) => void): io.IOHandler {
  return {
    load: async () => {
      let json: ModelJson;
      try {
        json = JSON.parse(await fs.promises.readFile(jsonPath, 'utf8')) as ModelJson;
      } catch (e) {
        throw new Error(`cannot read model file ${jsonPath}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${jsonPath} is not a TensorFlow.js graph model`);
      patch?.(json);
      const dir = path.dirname(jsonPath);
      const shards: Buffer[] = [];
      const weightSpecs: io.WeightsManifestEntry[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) shards.push(await fs.promises.readFile(path.join(dir, p)));
        weightSpecs.push(...group.weights);
      }
      const all = Buffer.concat(shards);
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

/** Makes every graph input accept any height and width (the detector is fully convolutional). */
export function freeInputSize(json: ModelJson): void {
  for (const n of json.modelTopology.node) {
    const dims = n.op === 'Placeholder' ? n.attr?.shape?.shape?.dim : undefined;
    if (dims && dims.length === 4) {
      dims[1] = { size: '-1' };
      dims[2] = { size: '-1' };
    }
  }
}
