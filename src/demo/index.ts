export { runDemo } from './run-demo.js';
export type { DemoJobReport, DemoReport } from './run-demo.js';
export { demoTasks } from './jobs.js';
