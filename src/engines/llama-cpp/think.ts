/**
 * A reasoning model's `<think>…</think>` block, told apart from its answer as the original worker
 * does it (its llm_core.rs): the studio's results and the local chat route carry the thought as
 * `reasoning_content`, the answer alone as `content`.
 */

const OPEN = '<think>';
const CLOSE = '</think>';

export interface SplitAnswer {
  content: string;
  /** Present only when the answer had a `</think>`; may then be empty. */
  reasoning?: string;
}

/**
 * A whole answer: split at the first `</think>`. Before it, the thought (leading `<think>` tags
 * dropped, trimmed); after it, the answer (trimmed). With no `</think>` at all the whole text is
 * the answer, an opening tag included (an unfinished thought is not guessed at).
 */
export function splitReasoning(text: string): SplitAnswer {
  const close = text.indexOf(CLOSE);
  if (close < 0) return { content: text.trim() };
  let thought = text.slice(0, close).trim();
  while (thought.startsWith(OPEN)) thought = thought.slice(OPEN.length);
  return { content: text.slice(close + CLOSE.length).trim(), reasoning: thought.trim() };
}

export type StreamDelta = { content: string } | { reasoning_content: string };

/**
 * A streamed answer, piece by piece: only a think block that opens the answer is reasoning. The
 * thought goes out as one `reasoning_content` delta once it is closed (or the stream ends inside
 * it); the answer after it goes out as it comes.
 */
export class ThinkSplitter {
  private state: 'undecided' | 'thinking' | 'answering' = 'undecided';
  private buffer = '';

  push(chunk: string): StreamDelta[] {
    if (this.state === 'answering') return chunk === '' ? [] : [{ content: chunk }];
    this.buffer += chunk;
    const out: StreamDelta[] = [];
    if (this.state === 'undecided') {
      const start = this.buffer.trimStart();
      if (start.startsWith(OPEN)) {
        this.state = 'thinking';
        this.buffer = start.slice(OPEN.length);
      } else if (OPEN.startsWith(start)) {
        return out; // still a prefix of "<think>" (or only blank so far)
      } else {
        this.state = 'answering';
        const text = this.buffer;
        this.buffer = '';
        return text === '' ? out : [{ content: text }];
      }
    }
    const close = this.buffer.indexOf(CLOSE);
    if (close < 0) return out;
    const thought = this.buffer.slice(0, close).trim();
    if (thought !== '') out.push({ reasoning_content: thought });
    const rest = this.buffer.slice(close + CLOSE.length).trimStart();
    this.buffer = '';
    this.state = 'answering';
    if (rest !== '') out.push({ content: rest });
    return out;
  }

  /** What is left when the stream ends: an unfinished thought is reasoning; anything else, answer. */
  finish(): StreamDelta[] {
    const rest = this.buffer;
    this.buffer = '';
    if (this.state === 'thinking') return rest.trim() === '' ? [] : [{ reasoning_content: rest.trim() }];
    return rest === '' ? [] : [{ content: rest }];
  }
}
