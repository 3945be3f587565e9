/**
 * node-red-contrib-emotionnet core: usable as a library without Node-RED.
 * Each module is re-exported here as it lands.
 */
export * from './frame';
export * from './overload';
export * from './backend';
export * from './log';
export * from './image';
export * from './face';
export * from './smooth';
export * from './alert';
export * from './model';
