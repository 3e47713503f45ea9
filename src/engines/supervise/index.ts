export {
  SupervisedEngine,
  EngineCrashError,
  type EngineCrash,
  type SupervisedEngineOptions,
} from './supervised-engine.js';
