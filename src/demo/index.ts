export { runDemo } from './run-demo.js';
export type { DemoJobReport, DemoReport } from './run-demo.js';
export { demoTasks, realImageJobs, REAL_IMAGE_MODEL } from './jobs.js';
export { locateRealSdcpp, sdcppLib, type RealSdcpp, type SdcppLib } from './sdcpp.js';
export { ModelHost } from './model-host.js';
