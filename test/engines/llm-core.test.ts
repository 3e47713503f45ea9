import { describe, expect, it } from 'vitest';
import { EngineError, planBudget, splitReasoning, ThinkSplitter } from '../../src/engines/index.js';

// The original's own cases (src/engine/llm_core.rs, its tests module), literally.

function split(pieces: string[]): [string, string] {
  const s = new ThinkSplitter();
  let reasoning = '';
  let content = '';
  for (const delta of [...pieces.flatMap((p) => s.push(p)), ...s.finish()]) {
    if ('reasoning_content' in delta) reasoning += delta.reasoning_content;
    else content += delta.content;
  }
  return [reasoning, content];
}

describe("the original's llm_core cases", () => {
  it('reasoning_is_split_from_the_answer', () => {
    expect(splitReasoning('<think>\nhmm\n</think>\n\n{"a":1}')).toEqual({
      content: '{"a":1}',
      reasoning: 'hmm',
    });
    expect(splitReasoning('  plain  ')).toEqual({ content: 'plain' });
    expect(splitReasoning('still thinking</think>')).toEqual({ content: '', reasoning: 'still thinking' });
  });

  it('completion_json_is_openai_shaped_with_real_counts (the split part) and an empty thought is kept', () => {
    expect(splitReasoning('<think>x</think>answer')).toEqual({ content: 'answer', reasoning: 'x' });
    expect(splitReasoning('<think></think>x')).toEqual({ content: 'x', reasoning: '' });
    // An opening tag alone is no thought: the whole text is the answer.
    expect(splitReasoning('<think>still…')).toEqual({ content: '<think>still…' });
  });

  it('think_splitter_passes_plain_answers_as_content', () => {
    expect(split(['{"a"', ':1}'])).toEqual(['', '{"a":1}']);
  });

  it('think_splitter_routes_a_think_block_to_reasoning', () => {
    expect(split(['<th', 'ink>\nhmm', ' ok</th', 'ink>\n\nanswer'])).toEqual(['hmm ok', 'answer']);
  });

  it('think_splitter_treats_text_that_only_looks_like_a_start_as_content', () => {
    expect(split(['<t', 'able>'])).toEqual(['', '<table>']);
    expect(split(['<th'])).toEqual(['', '<th']);
  });

  it('think_splitter_flushes_an_unfinished_think_as_reasoning', () => {
    expect(split(['<think>still'])).toEqual(['still', '']);
  });

  it('sends the thought as one reasoning delta, before the answer', () => {
    const s = new ThinkSplitter();
    const deltas = [...['<think>', 'a', ' b', '</think>', 'c', 'd'].flatMap((p) => s.push(p)), ...s.finish()];
    expect(deltas).toEqual([{ reasoning_content: 'a b' }, { content: 'c' }, { content: 'd' }]);
  });

  it('plans the budget: the room left, at least one token, and refuses a prompt that fills the context', () => {
    expect(planBudget(2000, 100, 2048)).toBe(48);
    expect(planBudget(10, 0, 2048)).toBe(1);
    expect(planBudget(10, 512, 8192)).toBe(512);
    let err: unknown;
    try {
      planBudget(2048, 100, 2048);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toBe(
      'prompt is 2048 tokens but the context holds 2048; raise contextSize or shorten the prompt',
    );
  });
});
