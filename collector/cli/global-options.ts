/** Options every loopctl command takes. */
export interface GlobalOptions {
  /** Collector base URL: `--collector`, else LOOP_COLLECTOR, else http://127.0.0.1:5678. */
  collector: string;
  /** Bearer token: `--token`, else LOOP_TOKEN. */
  token?: string;
}

export const DEFAULT_COLLECTOR = 'http://127.0.0.1:5678';

/** What a command gets from the program: the global options and a way to set the exit code. */
export interface CliContext {
  globals(): GlobalOptions;
  setExitCode(code: number): void;
}

/** The capture filters `loopctl list` and `loopctl replay` share, as Commander parses them. */
export interface CaptureFilterOptions {
  status?: string;
  service?: string;
  path?: string;
  since?: string;
  trace?: string;
  limit?: string;
}
