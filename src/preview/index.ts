/** Annotated preview: drawing, JPEG encoding off the hot path and a live MJPEG broadcaster. */
export * from './annotate';
export * from './draw';
export * from './font';
export * from './mjpeg';
export * from './renderer';
export * from './validate';
