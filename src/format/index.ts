/** Formatting shared by the CLI, the logs and the dashboard's browser bundle (pure, no Node APIs). */
export { formatBytes } from './bytes.js';
