/**
 * What both backends derive the same way from a capture: the listed path, and whether an id is a
 * display id (`seq`) or a capture id (nanoid).
 */

/** A display id: a positive integer, or a string of digits; -1 for a number that cannot be one. Anything else is a capture id (nanoid). */
export function asSeq(idOrSeq: string | number): number | undefined {
  if (typeof idOrSeq === 'number') return Number.isSafeInteger(idOrSeq) && idOrSeq > 0 ? idOrSeq : -1;
  if (/^[0-9]{1,15}$/.test(idOrSeq)) return Number(idOrSeq);
  return undefined;
}

/** The path of a request target without its query; absolute-form targets (`http://h/p`) give `/p`. */
export function pathOf(url: string): string {
  let target = url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      // Keep the raw target: a stored capture must never be refused for an odd URL.
    }
  }
  const cut = target.search(/[?#]/);
  if (cut !== -1) target = target.slice(0, cut);
  return target;
}
