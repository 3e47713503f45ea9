/** The original's limit on a request body. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The limit on the routes whose inputs may ride inline as `data:` URLs (an image edit's init image
 * and mask, the audio to transcribe): a 1 MiB body cannot carry a photo. 32 MiB holds a 24 MiB file
 * in base64.
 */
export const MAX_MEDIA_BODY_BYTES = 32 * 1024 * 1024;
