/** ffmpeg plumbing: discovery, argument building, child processes, stdout frame and stderr readers. */
export * from './discover';
export * from './args';
export * from './process';
export * from './frame-reader';
export * from './stderr';
