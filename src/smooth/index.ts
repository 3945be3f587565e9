export * from './faces';
export * from './estimators';
export * from './smoother';
export * from './operators';
