/**
 * The embedded default sample (`source: "default"`), so the nodes can be tried with no camera
 * and no file.
 *
 * It is the demo clip of real faces at {@link DEFAULT_SAMPLE_FILE} (`<package>/.cache/demo/default.mp4`,
 * rendered by `ensureDemoClip()`, which `npm start` calls; or the file `EMOTIONNET_DEFAULT_SAMPLE`
 * names), played looped and in real time. Until it exists, ffmpeg's synthetic `testsrc2` pattern
 * (640x480, 25 fps, no faces) plays instead, and the result says which clip was missing.
 */
import * as fs from 'fs';
import * as path from 'path';

function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'node-red-contrib-emotionnet') return dir;
      } catch {
        /* keep walking */
      }
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

/** Where the real-faces demo clip is looked for (generated, git-ignored). */
export const DEFAULT_SAMPLE_FILE = path.join(packageRoot(), '.cache', 'demo', 'default.mp4');

/** The synthetic fallback: ffmpeg lavfi graph (640x480, 25 fps). */
export const DEFAULT_SAMPLE_LAVFI = 'testsrc2=size=640x480:rate=25';

export interface DefaultSample {
  /** `file`: a clip on disk (looped, real time); `lavfi`: a synthetic ffmpeg source. */
  kind: 'file' | 'lavfi';
  /** ffmpeg input arguments, ending with `-i <input>`. */
  inputArgs: string[];
  /** Human-readable description for logs. */
  description: string;
  /** `lavfi` only: the demo clip that was looked for and not found. */
  missing?: string;
}

/**
 * Returns the ffmpeg input arguments of the default sample: the demo clip if it exists, else the
 * synthetic pattern. Always real-time paced (a demo should look like a camera).
 */
export function defaultSampleInput(file = process.env.EMOTIONNET_DEFAULT_SAMPLE || DEFAULT_SAMPLE_FILE): DefaultSample {
  if (file && fs.existsSync(file)) {
    return { kind: 'file', inputArgs: ['-re', '-stream_loop', '-1', '-i', file], description: `demo clip ${file}` };
  }
  return {
    kind: 'lavfi',
    inputArgs: ['-re', '-f', 'lavfi', '-i', DEFAULT_SAMPLE_LAVFI],
    description: `synthetic ${DEFAULT_SAMPLE_LAVFI}`,
    missing: file,
  };
}
