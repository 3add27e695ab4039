import type { HeaderList } from '../capture/record.js';
import { bodyDifferences, headerDifferences, type DiffOptions } from './diff.js';

/** What differed between answers to the same request sent several times: to be ignored in a diff. */
export interface Noise {
  /** Header names (lower case). */
  headers: string[];
  /** JSON paths of JSON bodies. */
  paths: string[];
  /** 1-based line numbers of text bodies. */
  lines: number[];
  /** True when binary bodies differed: the body is not compared. */
  body: boolean;
}

/**
 * Diffy's idea: the parts that differ between identical requests are noise. Compares the first answer
 * with each other one (statuses are not learned: a status that changes is never noise).
 */
export function learnNoise(samples: ReadonlyArray<{ headers: HeaderList; body: Buffer }>): Noise {
  const headers = new Set<string>();
  const paths = new Set<string>();
  const lines = new Set<number>();
  let body = false;
  const [first, ...others] = samples;
  for (const other of first ? others : []) {
    for (const { name } of headerDifferences(first!.headers, other.headers)) headers.add(name);
    const found = bodyDifferences(first!.body, other.body);
    for (const key of found.keys) {
      if (found.kind === 'json') paths.add(key);
      else if (found.kind === 'text') lines.add(Number(key.slice('line:'.length)));
      else body = true;
    }
  }
  return { headers: [...headers], paths: [...paths], lines: [...lines].sort((x, y) => x - y), body };
}

/** `options` with the learned noise added to what it ignores. */
export function withNoise(options: DiffOptions, noise: Noise): DiffOptions {
  return {
    ...options,
    ignoreHeaders: [...(options.ignoreHeaders ?? []), ...noise.headers],
    ignorePaths: [...(options.ignorePaths ?? []), ...noise.paths],
    ignoreLines: [...(options.ignoreLines ?? []), ...noise.lines],
    ignoreBody: options.ignoreBody || noise.body,
  };
}
