/**
 * A refused admin or contract operation; `status` is the HTTP status the route answers with, so
 * the in-process admin and the admin HTTP API fail the same way.
 */
export class DevStudioError extends Error {
  override readonly name = 'DevStudioError';
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 504,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string): DevStudioError => new DevStudioError(404, `${what} not found`);
export const conflict = (message: string): DevStudioError => new DevStudioError(409, message);
export const badRequest = (message: string): DevStudioError => new DevStudioError(400, message);
