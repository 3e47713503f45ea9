import { ExitCode, UserError } from '../util/index.js';

export interface ConfigProblem {
  /** The TOML key at fault; absent for problems with the file as a whole (a syntax error). */
  key?: string;
  line?: number;
  message: string;
}

/** A config file the operator has to fix; lists every problem found, each with its line and key. */
export class ConfigError extends UserError {
  override readonly name = 'ConfigError';

  constructor(
    readonly path: string,
    readonly problems: ConfigProblem[],
    options?: { cause?: unknown; detail?: string },
  ) {
    super(formatMessage(path, problems, options?.detail), ExitCode.usage, options);
  }
}

function formatMessage(file: string, problems: ConfigProblem[], detail?: string): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((p) => {
    const where = p.line === undefined ? file : `${file}:${p.line}`;
    return `  ${where}: ${p.key === undefined ? '' : `${p.key}: `}${p.message}`;
  });
  const tail = detail ? `\n${detail.replace(/\n+$/, '')}` : '';
  return `Invalid config file ${file} (${count}):\n${lines.join('\n')}${tail}`;
}
