/** A request the local API answers with an error: its status, a machine code and a sentence. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** Fields the answer carries beside `error` and `message` (an admission refusal's figures). */
  extra(): Record<string, unknown> {
    return {};
  }
}
