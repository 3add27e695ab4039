import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * A bearer-token check that takes the same time whatever the token sent: both sides are hashed first,
 * so neither the length nor a common prefix leaks through timing.
 */
export function createTokenCheck(token: string): (req: IncomingMessage) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (req) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(header);
    const given = createHash('sha256')
      .update(match ? match[1]! : '')
      .digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}
