/**
 * A tiny levelled logger for the core. The core never imports node-red, so Node-RED wrappers
 * pass their own `node.log`/`node.warn` in through {@link Logger}; library users get console
 * output filtered by `EMOTIONNET_LOG` (error | warn | info | debug; default info).
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

function threshold(): number {
  const v = (process.env.EMOTIONNET_LOG || 'info').toLowerCase();
  const i = LEVELS.indexOf(v as Level);
  return i < 0 ? 1 : i;
}

/** Console logger with a `[emotionnet]` prefix, honouring `EMOTIONNET_LOG`. */
export function consoleLogger(prefix = 'emotionnet'): Logger {
  const at = (level: Level, fn: (s: string) => void) => (msg: string) => {
    if (LEVELS.indexOf(level) >= threshold()) fn(`[${prefix}] ${msg}`);
  };
  return {
    debug: at('debug', console.debug),
    info: at('info', console.log),
    warn: at('warn', console.warn),
    error: at('error', console.error),
  };
}

/** A logger that discards everything (tests, benchmarks). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
