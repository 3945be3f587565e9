/**
 * Image helpers: decode (JPEG/PNG/TIFF), colour conversion, resize, affine warp, crop, JPEG
 * encode, and Frame ↔ image bridges. Plain typed arrays; no tensors.
 */
export * from './types';
export * from './decode';
export * from './encode';
export * from './transform';
export * from './frame-image';
