import type { IncomingMessage } from 'node:http';

/** The first 300 characters of a refused upgrade's body, on one line; read for 2 s at most. */
export function readRefusal(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      clearTimeout(timer);
      res.destroy();
      resolve(text.replace(/\s+/g, ' ').trim().slice(0, 300));
    };
    const timer = setTimeout(done, 2000);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 4096) done();
    });
    res.once('end', done);
    res.once('error', done);
  });
}
