/** The virtual phone's telemetry layer (see hub.ts). */
export * from './ads.ts';
export * from './codec.ts';
export * from './device.ts';
export * from './hub.ts';
export * from './mistat.ts';
export * from './queue.ts';
export * from './sensors.ts';
export * from './switches.ts';
export * from './tracking.ts';
export * from './transport.ts';
