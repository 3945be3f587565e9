/** Video sources: ffmpeg-decoded frames from files, streams, cameras and the default sample. */
export * from './errors';
export * from './input';
export * from './default-sample';
export * from './video-source';
