/** The studio's HTTP routes: register-request, its status poll, and the multipart `complete` upload. */
export { StudioHttp } from './http.js';
export type { StudioHttpOptions, UploadResultOptions } from './http.js';
export { StudioHttpError, isNetworkError, isRetryableError } from './errors.js';
